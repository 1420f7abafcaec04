import type { Pool } from 'pg';

import { type BatchVerdict, BlsPublicKey, RegisteredMeter, toHex } from '@app/crypto';
import {
  Block,
  type BlockEntry,
  blockHash,
  checkQuorumCertificate,
  decodeHeader,
  decodeQuorumCertificate,
  encodeQuorumCertificate,
  producerOfSlot,
  type QuorumCertificate,
  receiverIndexRoot,
  roundOfSlot,
  type RoundSchedule,
  type Timing,
  transactionsRoot,
} from '@app/ledger';

import { entryFromStored, scheduleOf, type StoredSchedule } from './chain.repository';

export interface ChainVerification {
  ok: boolean;
  blocksChecked: number;
  reportsChecked: number;
  transactionsChecked: number;
  /** The first block that does not hold, and why. */
  firstBad?: { height: string; reason: string };
  seconds: number;
}

/** What the verifier needs to know of the chain besides its tables: all of it from the genesis document. */
export interface ChainIdentity {
  readonly chainId: string;
  readonly genesisHash: Uint8Array;
  readonly timing: Timing;
}

/** Weighted batch verification of report signatures (the worker pool). */
export type VerifyReports = (
  items: ReadonlyArray<{ report: Uint8Array; meter: RegisteredMeter }>,
) => Promise<BatchVerdict>;

interface StoredBlockRow {
  height: string;
  hash: Buffer;
  previous_hash: Buffer;
  header: Buffer;
  signature: Buffer;
  certificate: Buffer | null;
  // Columns derived from the header, which queries (and the node's own checks) read: each must say
  // what the signed header says.
  slot: string;
  round: string;
  timestamp: Date;
  producer: string;
  transactions_root: Buffer;
  receiver_index_root: Buffer;
  transaction_count: number;
  certificate_block_hash: Buffer | null;
}

interface StoredTransactionRow {
  height: string;
  position: number;
  kind: string;
  bytes: Buffer;
  hash: Buffer;
  // Derived from the bytes: the replay check (final nonces) and the share index read these.
  meter_id: string | null;
  nonce: string | null;
  receivers: string[];
}

/** What a block's checks need of the block before it. */
interface PreviousBlock {
  hash: Uint8Array;
  slot: bigint;
  /** Its stored quorum certificate, as stored, when it has one (already checked with it). */
  certificate: Buffer | null;
}

interface ChainKeys {
  schedules: Map<bigint, RoundSchedule>;
  delegates: Map<string, BlsPublicKey>;
  organisations: Map<string, BlsPublicKey>;
  owners: Map<string, BlsPublicKey>;
  meters: Map<string, RegisteredMeter>;
}

/**
 * verify-chain (DESIGN.md section 3): recomputes, from genesis, every block hash and the chain of
 * previous hashes, the producer of each slot against the round schedules, every producer signature,
 * every quorum certificate, every Merkle root and receiver index against the stored transactions, and
 * every signature inside: the organisations' transactions one by one, the meters' reports in weighted
 * batches in the worker pool. It reads the tables as they are and names the first block that does
 * not hold (an edit made with plain SQL shows up here, whatever the triggers said).
 */
export class ChainVerifier {
  constructor(
    private readonly pool: Pool,
    private readonly context: ChainIdentity,
    private readonly verifyReports: VerifyReports,
  ) {}

  /**
   * @param options.onProgress after each group of blocks: the height checked up to, the reports
   *   checked so far, and the last height this run will check (for a progress bar).
   */
  async verify(
    options: {
      batchBlocks?: number;
      onProgress?: (height: bigint, reports: number, lastHeight: bigint) => void;
    } = {},
  ): Promise<ChainVerification> {
    const started = performance.now();
    const batchBlocks = options.batchBlocks ?? 50;
    // The chain as it stands now; the node may finalize more meanwhile. Everything those blocks
    // need (schedules, keys) is committed with them, so it is read after this height.
    const { rows: top } = await this.pool.query<{ height: string | null }>(
      'SELECT max(height) AS height FROM blocks',
    );
    const lastHeight = BigInt(top[0]?.height ?? '0');
    const keys: ChainKeys = {
      schedules: await this.loadSchedules(),
      delegates: await this.keysOf('SELECT id, public_key FROM registry_delegates'),
      organisations: await this.keysOf('SELECT id, public_key FROM registry_organisations'),
      // Meters' owners sign their device contracts as `owner:<meterId>` (paper III.F).
      owners: await this.keysOf(
        `SELECT 'owner:' || id AS id, decode(owner->>'publicKey', 'hex') AS public_key FROM registry_meters
         WHERE owner->>'publicKey' IS NOT NULL`,
      ),
      meters: await this.meterKeys(),
    };
    let previous: PreviousBlock = { hash: this.context.genesisHash, slot: 0n, certificate: null };
    let expectedHeight = 1n;
    let blocksChecked = 0;
    let reportsChecked = 0;
    let transactionsChecked = 0;
    const result = (firstBad?: { height: bigint; reason: string }): ChainVerification => ({
      ok: !firstBad,
      blocksChecked,
      reportsChecked,
      transactionsChecked,
      ...(firstBad ? { firstBad: { height: firstBad.height.toString(), reason: firstBad.reason } } : {}),
      seconds: (performance.now() - started) / 1000,
    });
    // The reports of one group of blocks are checked in the worker pool while the main thread reads
    // and checks the next group. Verdicts are taken in order: a group's bad report is named before
    // anything found after it.
    const checkReports = (
      reports: Array<{ height: bigint; report: Uint8Array; meter: RegisteredMeter }>,
      groupEnd: bigint,
      before: Promise<ChainVerification | undefined>,
    ): Promise<ChainVerification | undefined> => {
      const verdict =
        reports.length > 0
          ? this.verifyReports(reports.map((r) => ({ report: r.report, meter: r.meter })))
          : undefined;
      verdict?.catch(() => undefined); // awaited below, after the groups before it
      return before.then(async (earlier) => {
        if (earlier) {
          return earlier;
        }
        const bad = verdict ? (await verdict).invalid[0] : undefined;
        if (bad !== undefined) {
          return result({ height: reports[bad]!.height, reason: 'a report signature does not verify' });
        }
        reportsChecked += reports.length;
        options.onProgress?.(groupEnd, reportsChecked, lastHeight);
        return undefined;
      });
    };
    let previousGroup: Promise<ChainVerification | undefined> = Promise.resolve(undefined);
    for (;;) {
      const { rows } = await this.pool.query<StoredBlockRow>(
        `SELECT b.height, b.hash, b.previous_hash, b.header, b.signature, c.certificate, b.slot, b.round, b.timestamp,
                b.producer, b.transactions_root, b.receiver_index_root, b.transaction_count,
                c.block_hash AS certificate_block_hash FROM blocks b
         LEFT JOIN block_certificates c ON c.height = b.height WHERE b.height BETWEEN $1 AND $2 ORDER BY b.height LIMIT $3`,
        [expectedHeight.toString(), lastHeight.toString(), batchBlocks],
      );
      if (rows.length === 0) {
        return (await previousGroup) ?? result();
      }
      const last = BigInt(rows[rows.length - 1]!.height);
      const { rows: txRows } = await this.pool.query<StoredTransactionRow>(
        `SELECT height, position, kind, bytes, hash, meter_id, nonce::text AS nonce, receivers FROM block_transactions
         WHERE height BETWEEN $1 AND $2 ORDER BY height, position`,
        [expectedHeight.toString(), last.toString()],
      );
      const { rows: shareRows } = await this.pool.query<{
        height: string;
        receiver_id: string;
        position: number;
      }>('SELECT height, receiver_id, position FROM block_shares WHERE height BETWEEN $1 AND $2', [
        expectedHeight.toString(),
        last.toString(),
      ]);
      const sharesByHeight = new Map<string, string[]>();
      for (const share of shareRows) {
        const list = sharesByHeight.get(share.height) ?? [];
        list.push(shareKey(share.receiver_id, share.position));
        sharesByHeight.set(share.height, list);
      }
      const byHeight = new Map<string, StoredTransactionRow[]>();
      for (const row of txRows) {
        const block = byHeight.get(row.height);
        if (block) {
          block.push(row);
        } else {
          byHeight.set(row.height, [row]);
        }
      }
      const reports: Array<{ height: bigint; report: Uint8Array; meter: RegisteredMeter }> = [];
      let structural: { height: bigint; reason: string } | undefined;
      for (const row of rows) {
        const height = BigInt(row.height);
        if (height !== expectedHeight) {
          structural = {
            height: expectedHeight,
            reason: `block ${expectedHeight} is missing (the next stored is ${height})`,
          };
          break;
        }
        const checked = this.checkBlock(
          row,
          byHeight.get(row.height) ?? [],
          sharesByHeight.get(row.height) ?? [],
          previous,
          keys,
        );
        if (typeof checked === 'string') {
          structural = { height, reason: checked };
          break;
        }
        reports.push(...checked.reports.map((r) => ({ ...r, height })));
        transactionsChecked += checked.transactions;
        previous = { hash: row.hash, slot: checked.slot, certificate: row.certificate };
        expectedHeight += 1n;
        blocksChecked += 1;
      }
      const thisGroup = checkReports(reports, expectedHeight - 1n, previousGroup);
      if (structural) {
        // A structural fault later in the group must not hide a bad report before it.
        return (await thisGroup) ?? result(structural);
      }
      // One group in the pool while the next is checked here: memory stays at two groups.
      const earlier = await previousGroup;
      if (earlier) {
        return earlier;
      }
      previousGroup = thisGroup;
    }
  }

  /** Every check of one block except its reports' signatures; returns why it fails, or what it holds. */
  private checkBlock(
    row: StoredBlockRow,
    transactions: StoredTransactionRow[],
    shares: string[],
    previous: PreviousBlock,
    keys: ChainKeys,
  ):
    | string
    | { slot: bigint; transactions: number; reports: Array<{ report: Uint8Array; meter: RegisteredMeter }> } {
    const height = BigInt(row.height);
    let header;
    try {
      header = decodeHeader(row.header);
    } catch (error) {
      return `the stored header does not decode: ${(error as Error).message}`;
    }
    if (!Buffer.from(blockHash(row.header, row.signature)).equals(row.hash)) {
      return 'the stored hash is not the hash of the stored header and signature';
    }
    if (
      header.height !== height ||
      !Buffer.from(header.previousHash).equals(Buffer.from(previous.hash)) ||
      !row.previous_hash.equals(Buffer.from(previous.hash))
    ) {
      return 'the block does not follow the previous block (height or previous hash)';
    }
    if (header.slot <= previous.slot) {
      return `slot ${header.slot} does not come after ${previous.slot}`;
    }
    const schedule = keys.schedules.get(roundOfSlot(this.context.timing, header.slot));
    if (!schedule || producerOfSlot(this.context.timing, schedule, header.slot) !== header.producer) {
      return `${header.producer} was not the producer of slot ${header.slot}`;
    }
    let entries;
    try {
      entries = transactions.map((t) => entryFromStored(t.kind, t.bytes));
    } catch (error) {
      return `a stored transaction does not decode: ${(error as Error).message}`;
    }
    const producerKey = keys.delegates.get(header.producer);
    if (!producerKey || !Block.fromParts(row.header, row.signature, entries).verifySignature(producerKey)) {
      return `the producer signature of ${header.producer} does not verify`;
    }
    if (
      entries.length !== header.transactionCount ||
      !Buffer.from(transactionsRoot(entries)).equals(Buffer.from(header.transactionsRoot)) ||
      !Buffer.from(receiverIndexRoot(entries)).equals(Buffer.from(header.receiverIndexRoot))
    ) {
      return 'the stored transactions do not match the Merkle root, receiver index or count of the header';
    }
    if (
      entries.some(
        (e, i) =>
          toHex(e.type === 'report' ? e.report.id : e.transaction.hash) !== toHex(transactions[i]!.hash),
      )
    ) {
      return 'a stored transaction hash is not the hash of its stored bytes';
    }
    const derived = derivedColumnsProblem(row, header, this.context.timing, transactions, entries, shares);
    if (derived) {
      return derived;
    }
    let certificates;
    try {
      // The certificate on the parent usually is the one stored with the parent, checked a block
      // ago: the same bytes need not be checked twice (a pairing check each).
      const parent = header.parentCertificate;
      const checkedWithParent =
        parent !== null &&
        previous.certificate !== null &&
        Buffer.from(encodeQuorumCertificate(parent)).equals(previous.certificate);
      certificates = [
        checkedWithParent ? null : parent,
        row.certificate ? decodeQuorumCertificate(row.certificate) : null,
      ];
    } catch (error) {
      return `the stored quorum certificate does not decode: ${(error as Error).message}`;
    }
    // A certificate holds for the block it names, by the round of that block's slot (as the producer
    // side forms and checks them: aggregateVotes with the block's schedule, BlockValidator.certifies);
    // a valid certificate copied from another block, or named for another round, is refused here.
    const parentCertificate = header.parentCertificate;
    const parentRound = previous.slot >= 1n ? roundOfSlot(this.context.timing, previous.slot) : undefined;
    if (
      parentCertificate &&
      !certifiesBlock(parentCertificate, { height: height - 1n, hash: previous.hash, round: parentRound })
    ) {
      return `the parent's quorum certificate in the header is not on block ${height - 1n} (round ${parentRound ?? 'none: genesis'})`;
    }
    const own = certificates[1];
    if (
      own &&
      !certifiesBlock(own, { height, hash: row.hash, round: roundOfSlot(this.context.timing, header.slot) })
    ) {
      return `the stored quorum certificate is on block ${own.height} (${toHex(own.blockHash).slice(0, 16)}…) of round ${own.round}, not on this one`;
    }
    for (const certificate of certificates) {
      if (!certificate) {
        continue;
      }
      const certified = keys.schedules.get(certificate.round);
      const voters = certified?.elected.flatMap((id) => {
        const publicKey = keys.delegates.get(id);
        return publicKey ? [{ id, publicKey }] : [];
      });
      const problem = voters
        ? checkQuorumCertificate(certificate, this.context.chainId, voters, certified!.base)
        : `no schedule for round ${certificate.round}`;
      if (problem) {
        return `a quorum certificate does not hold: ${problem}`;
      }
    }
    const reports: Array<{ report: Uint8Array; meter: RegisteredMeter }> = [];
    let transactionCount = 0;
    for (const entry of entries) {
      if (entry.type === 'transaction') {
        const sender = entry.transaction.sender;
        const key = keys.organisations.get(sender) ?? keys.owners.get(sender);
        if (!key || !entry.transaction.verifySignature(key)) {
          return `transaction ${entry.transaction.hashHex.slice(0, 16)}… is not signed by ${entry.transaction.sender}`;
        }
        transactionCount += 1;
      } else {
        const meter = keys.meters.get(entry.report.meterId);
        if (!meter) {
          return `report of unknown meter ${entry.report.meterId}`;
        }
        reports.push({ report: entry.report.bytes, meter });
      }
    }
    return { slot: header.slot, transactions: transactionCount, reports };
  }

  private async loadSchedules(): Promise<Map<bigint, RoundSchedule>> {
    const { rows } = await this.pool.query<StoredSchedule>(
      'SELECT round, elected, slots, base FROM round_schedules',
    );
    return new Map(rows.map((r) => [BigInt(r.round), scheduleOf(r)]));
  }

  private async keysOf(sql: string): Promise<Map<string, BlsPublicKey>> {
    const { rows } = await this.pool.query<{ id: string; public_key: Buffer }>(sql);
    return new Map(rows.map((r) => [r.id, BlsPublicKey.fromBytes(r.public_key)]));
  }

  private async meterKeys(): Promise<Map<string, RegisteredMeter>> {
    const { rows } = await this.pool.query<{ id: string; verification_key: Buffer }>(
      'SELECT id, verification_key FROM registry_meters WHERE verification_key IS NOT NULL',
    );
    // Decoded without the subgroup check: the pool's workers do the same for registered keys.
    return new Map(rows.map((r) => [r.id, RegisteredMeter.fromTrustedBytes(r.verification_key)]));
  }
}

/** Whether `certificate` names this block: its height, its hash, the round of its slot. */
function certifiesBlock(
  certificate: QuorumCertificate,
  block: { height: bigint; hash: Uint8Array; round: bigint | undefined },
): boolean {
  return (
    block.round !== undefined &&
    certificate.height === block.height &&
    certificate.round === block.round &&
    Buffer.from(certificate.blockHash).equals(Buffer.from(block.hash))
  );
}

function shareKey(receiverId: string, position: number): string {
  return `${receiverId}\u0000${position}`;
}

/**
 * Where a stored column disagrees with the signed bytes it was derived from, or undefined. The node
 * reads these columns (the final tip's slot, the final nonces of the replay check, a receiver's
 * shares), so an edit of one alone would change what it does without touching a hash.
 */
function derivedColumnsProblem(
  row: StoredBlockRow,
  header: ReturnType<typeof decodeHeader>,
  timing: Timing,
  transactions: readonly StoredTransactionRow[],
  entries: readonly BlockEntry[],
  shares: readonly string[],
): string | undefined {
  const columns: Array<[string, boolean]> = [
    ['slot', row.slot === header.slot.toString()],
    ['round', row.round === roundOfSlot(timing, header.slot).toString()],
    ['timestamp', row.timestamp.getTime() === header.timestamp],
    ['producer', row.producer === header.producer],
    ['transactions_root', row.transactions_root.equals(Buffer.from(header.transactionsRoot))],
    ['receiver_index_root', row.receiver_index_root.equals(Buffer.from(header.receiverIndexRoot))],
    ['transaction_count', row.transaction_count === header.transactionCount],
    [
      'block_hash of its certificate',
      row.certificate === null || !!row.certificate_block_hash?.equals(row.hash),
    ],
  ];
  const wrongColumn = columns.find(([, ok]) => !ok);
  if (wrongColumn) {
    return `the stored ${wrongColumn[0]} of the block is not what its signed header says`;
  }
  for (const [position, entry] of entries.entries()) {
    const stored = transactions[position]!;
    const report = entry.type === 'report' ? entry.report : undefined;
    const expected = {
      kind: report ? 'report' : entry.type === 'transaction' ? entry.transaction.kind : '',
      meterId: report?.meterId ?? null,
      nonce: report?.nonce.toString() ?? null,
      receivers: report ? report.receivers.map((r) => r.id) : [],
    };
    if (
      stored.position !== position ||
      stored.kind !== expected.kind ||
      stored.meter_id !== expected.meterId ||
      stored.nonce !== expected.nonce ||
      stored.receivers.join('\u0000') !== expected.receivers.join('\u0000')
    ) {
      return `the stored position, kind, meter, nonce or receivers of entry ${position} are not what its signed bytes say`;
    }
  }
  const expectedShares = entries.flatMap((entry, position) =>
    entry.type === 'report' ? entry.report.receivers.map((r) => shareKey(r.id, position)) : [],
  );
  if ([...shares].sort().join('\n') !== expectedShares.sort().join('\n')) {
    return "the stored share index (block_shares) is not the one the block's reports give";
  }
  return undefined;
}
