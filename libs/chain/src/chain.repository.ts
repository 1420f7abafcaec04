import type { Pool } from 'pg';

import { Report } from '@app/crypto';
import {
  Block,
  type BlockEntry,
  decodeQuorumCertificate,
  encodeQuorumCertificate,
  type QuorumCertificate,
  type RoundSchedule,
  Transaction,
} from '@app/ledger';
import type { SqlExecutor } from '@app/persistence';

export interface FinalTip {
  height: bigint;
  hash: Uint8Array;
  slot: bigint;
}

export interface StoredFinalBlock {
  block: Block;
  certificate: QuorumCertificate | null;
}

interface BlockRow {
  height: string;
  header: Buffer;
  signature: Buffer;
}

/** SQL of the chain tables (final blocks, candidates, schedules, missed slots, votes cast). */
export class ChainRepository {
  constructor(private readonly pool: Pool) {}

  /** Totals of the final chain, read once at start-up (the node counts on from there). */
  async finalTotals(): Promise<{ reports: number; transactions: number; missedSlots: number }> {
    const { rows } = await this.pool.query<{ reports: string; transactions: string; missed: string }>(
      `SELECT (SELECT count(*) FROM block_transactions WHERE kind = 'report') AS reports,
              (SELECT count(*) FROM block_transactions WHERE kind <> 'report') AS transactions,
              (SELECT count(*) FROM missed_slots) AS missed`,
    );
    const row = rows[0]!;
    return {
      reports: Number(row.reports),
      transactions: Number(row.transactions),
      missedSlots: Number(row.missed),
    };
  }

  async finalHashAt(height: bigint): Promise<Uint8Array | undefined> {
    const { rows } = await this.pool.query<{ hash: Buffer }>('SELECT hash FROM blocks WHERE height = $1', [
      height.toString(),
    ]);
    return rows[0]?.hash;
  }

  async finalTip(genesisHash: Uint8Array): Promise<FinalTip> {
    const { rows } = await this.pool.query<{ height: string; hash: Buffer; slot: string }>(
      'SELECT height, hash, slot FROM blocks ORDER BY height DESC LIMIT 1',
    );
    const row = rows[0];
    return row
      ? { height: BigInt(row.height), hash: row.hash, slot: BigInt(row.slot) }
      : { height: 0n, hash: genesisHash, slot: 0n };
  }

  /**
   * Final blocks from `from` on, with their bodies and certificates: at most `limit`, and only while
   * fewer than `maxTransactions` came before in the page (so always one at least), so that a page of
   * large blocks stays a size a peer can send and check within its timeout.
   */
  async finalBlocks(
    from: bigint,
    limit: number,
    maxTransactions = Number.MAX_SAFE_INTEGER,
    sql: SqlExecutor = this.pool,
  ): Promise<StoredFinalBlock[]> {
    const { rows } = await sql.query<BlockRow & { certificate: Buffer | null }>(
      `SELECT b.height, b.header, b.signature, c.certificate FROM (
         SELECT height, header, signature,
                sum(transaction_count) OVER (ORDER BY height) - transaction_count AS before
         FROM blocks WHERE height >= $1 ORDER BY height LIMIT $2
       ) b
       LEFT JOIN block_certificates c ON c.height = b.height
       WHERE b.before < $3
       ORDER BY b.height`,
      [from.toString(), limit, maxTransactions],
    );
    if (rows.length === 0) {
      return [];
    }
    const entries = await this.entriesOf(BigInt(rows[0]!.height), BigInt(rows[rows.length - 1]!.height), sql);
    return rows.map((row) => ({
      block: Block.fromParts(row.header, row.signature, entries.get(row.height) ?? []),
      certificate: row.certificate ? decodeQuorumCertificate(row.certificate) : null,
    }));
  }

  private async entriesOf(from: bigint, to: bigint, sql: SqlExecutor): Promise<Map<string, BlockEntry[]>> {
    const { rows } = await sql.query<{ height: string; kind: string; bytes: Buffer }>(
      'SELECT height, kind, bytes FROM block_transactions WHERE height BETWEEN $1 AND $2 ORDER BY height, position',
      [from.toString(), to.toString()],
    );
    const out = new Map<string, BlockEntry[]>();
    for (const row of rows) {
      const list = out.get(row.height) ?? [];
      list.push(entryFromStored(row.kind, row.bytes));
      out.set(row.height, list);
    }
    return out;
  }

  async candidates(): Promise<Array<{ block: Block; certificate: QuorumCertificate | null }>> {
    const { rows } = await this.pool.query<{
      header: Buffer;
      signature: Buffer;
      body: Buffer;
      certificate: Buffer | null;
    }>('SELECT header, signature, body, certificate FROM candidate_blocks ORDER BY height');
    return rows.map((r) => ({
      block: Block.fromParts(r.header, r.signature, r.body),
      certificate: r.certificate ? decodeQuorumCertificate(r.certificate) : null,
    }));
  }

  async saveCandidate(block: Block): Promise<void> {
    await this.pool.query(
      `INSERT INTO candidate_blocks (hash, height, parent_hash, slot, producer, header, signature, body, received_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now()) ON CONFLICT (hash) DO NOTHING`,
      [
        Buffer.from(block.hash),
        block.height.toString(),
        Buffer.from(block.header.previousHash),
        block.header.slot.toString(),
        block.header.producer,
        Buffer.from(block.headerBytes),
        Buffer.from(block.signature),
        Buffer.from(block.encodeBody()),
      ],
    );
  }

  async certifyCandidate(hash: Uint8Array, certificate: QuorumCertificate): Promise<void> {
    await this.pool.query(
      'UPDATE candidate_blocks SET certificate = $2 WHERE hash = $1 AND certificate IS NULL',
      [Buffer.from(hash), Buffer.from(encodeQuorumCertificate(certificate))],
    );
  }

  async dropCandidates(hashes: readonly Uint8Array[]): Promise<void> {
    if (hashes.length > 0) {
      await this.pool.query('DELETE FROM candidate_blocks WHERE hash = ANY($1::bytea[])', [
        hashes.map((h) => Buffer.from(h)),
      ]);
    }
  }

  async schedules(): Promise<RoundSchedule[]> {
    const { rows } = await this.pool.query<StoredSchedule>(
      'SELECT round, elected, slots, base FROM round_schedules ORDER BY round',
    );
    return rows.map(scheduleOf);
  }

  async saveSchedule(sql: SqlExecutor, schedule: RoundSchedule, seed: Uint8Array): Promise<void> {
    await sql.query(
      'INSERT INTO round_schedules (round, elected, slots, seed, base) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING',
      [schedule.round.toString(), schedule.elected, schedule.slots, Buffer.from(seed), schedule.base],
    );
  }

  /** Records the delegates' votes at `height`; returns those that had not voted at that height yet. */
  async recordVotes(height: bigint, delegates: readonly string[], blockHash: Uint8Array): Promise<string[]> {
    const { rows } = await this.pool.query<{ delegate: string }>(
      `INSERT INTO votes_cast (height, delegate, block_hash) SELECT $1, d, $3 FROM unnest($2::text[]) AS d
       ON CONFLICT DO NOTHING RETURNING delegate`,
      [height.toString(), delegates, Buffer.from(blockHash)],
    );
    const recorded = new Set(rows.map((r) => r.delegate));
    return delegates.filter((d) => recorded.has(d));
  }

  /** Which of `hashes` are in the final chain already. */
  async finalTransactions(hashes: readonly Uint8Array[]): Promise<Set<string>> {
    if (hashes.length === 0) {
      return new Set();
    }
    const { rows } = await this.pool.query<{ hash: Buffer }>(
      'SELECT hash FROM block_transactions WHERE hash = ANY($1::bytea[])',
      [hashes.map((h) => Buffer.from(h))],
    );
    return new Set(rows.map((r) => r.hash.toString('hex')));
  }

  /** Which (meter, nonce) pairs the final chain holds, with the report that used them. */
  async finalNonces(pairs: ReadonlyArray<{ meterId: string; nonce: bigint }>): Promise<Map<string, string>> {
    if (pairs.length === 0) {
      return new Map();
    }
    const { rows } = await this.pool.query<{ meter_id: string; nonce: string; hash: Buffer }>(
      `SELECT t.meter_id, t.nonce::text AS nonce, t.hash FROM block_transactions t
       JOIN unnest($1::text[], $2::numeric[]) AS q(meter_id, nonce) ON t.meter_id = q.meter_id AND t.nonce = q.nonce`,
      [pairs.map((p) => p.meterId), pairs.map((p) => p.nonce.toString())],
    );
    return new Map(rows.map((r) => [`${r.meter_id}\u0000${r.nonce}`, r.hash.toString('hex')]));
  }
}

export function entryFromStored(kind: string, bytes: Uint8Array): BlockEntry {
  // Decoding what this node stored after validating it: the format checks run again, cheaply.
  return kind === 'report'
    ? { type: 'report', report: Report.decode(bytes) }
    : { type: 'transaction', transaction: Transaction.decode(bytes) };
}

export interface StoredSchedule {
  round: string;
  elected: string[];
  slots: string[];
  base: string[] | null;
}

/** A stored schedule; one stored before `base` existed counts its elected set as its base. */
export function scheduleOf(row: StoredSchedule): RoundSchedule {
  return {
    round: BigInt(row.round),
    elected: row.elected,
    slots: row.slots,
    base: row.base && row.base.length > 0 ? row.base : row.elected,
  };
}
