import { Inject, Injectable } from '@nestjs/common';
import type { Pool } from 'pg';

import { APP_CONFIG, type AppConfig } from '@app/config';
import { keyFingerprint, Report } from '@app/crypto';
import { DomainEvent, EventStore, JournalEvent } from '@app/event-store';
import { CLOCK, type Clock } from '@app/kernel';
import { type BlockEntry, blockRulesOf, Transaction } from '@app/ledger';
import { PG_POOL } from '@app/persistence';
import {
  checkEnvelope,
  decideRegistryTransaction,
  GenesisService,
  KINDS_LAYING_NOTHING,
  BlockRegistryView,
  type RegistryChange,
  RegistryOverlay,
} from '@app/registry';

import type { Candidate } from './chain-tree';

export interface TransactionReceipt {
  hash: string;
  kind: string;
  /** pending: in this node's mempool, waiting for a block. */
  status: 'pending';
  /** True when this exact transaction had been accepted before (the submission is idempotent). */
  duplicate: boolean;
}

export interface TransactionAccepted {
  hash: string;
  kind: string;
  sender: string;
}

@DomainEvent('mempool.transaction-accepted', 1)
export class TransactionAcceptedEvent extends JournalEvent<TransactionAccepted> {}

/** An accepted report or transaction that no block took before it left the accept window. */
export interface MempoolEntryExpired {
  /** The report id or transaction hash. */
  id: string;
  /** report, or the transaction kind. */
  kind: string;
  /** The window it left (ms), as configured on this node. */
  windowMs: number;
}

@DomainEvent('mempool.entry-expired', 1)
export class MempoolEntryExpiredEvent extends JournalEvent<MempoolEntryExpired> {}

/** Entries expired by one sweep at most: a long outage's backlog leaves over several sweeps. */
const EXPIRY_BATCH = 5_000;

/**
 * The mempool's organisation transactions and the choice of what goes into a block. A transaction is
 * admitted if the registry's rules accept it against the state it will meet: the final state, the
 * blocks above it on the head's branch, and the transactions admitted before it. The state tables
 * themselves change only when a block becomes final.
 */
@Injectable()
export class MempoolService {
  /** The pending state for admissions, kept between them while the head's branch stays the same. */
  private pending: { headHex: string; overlay: RegistryOverlay } | undefined;

  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(CLOCK) private readonly clock: Clock,
    private readonly store: EventStore,
    private readonly genesis: GenesisService,
  ) {}

  /**
   * Checks the transaction's signature ahead of admission, which runs in the chain's queue: the rules
   * remember the outcome, so admission pays no pairing there, and a stream of transactions (a
   * receiver's contract results) does not hold blocks up behind it. A refusal is left to admit().
   */
  async precheck(tx: Transaction): Promise<void> {
    await checkEnvelope(tx, new BlockRegistryView(this.pool), this.context(this.clock.now().getTime())).catch(
      () => undefined,
    );
  }

  /** Admits a signed transaction; `headPath` are the candidate blocks from the final tip to the head. */
  async admit(tx: Transaction, headPath: readonly Candidate[]): Promise<TransactionReceipt> {
    const receipt: TransactionReceipt = {
      hash: tx.hashHex,
      kind: tx.kind,
      status: 'pending',
      duplicate: false,
    };
    if (await this.known(tx.hash, headPath)) {
      return { ...receipt, duplicate: true };
    }
    const overlay = await this.pendingOverlay(headPath);
    const now = this.clock.now();
    const change = await decideRegistryTransaction(tx, overlay, this.context(now.getTime()));
    try {
      await this.store.transaction(async (uow) => {
        await uow.sql.query(
          'INSERT INTO mempool_transactions (hash, kind, sender, bytes, received_at) VALUES ($1, $2, $3, $4, $5)',
          [Buffer.from(tx.hash), tx.kind, tx.sender, Buffer.from(tx.encode()), now],
        );
        uow.append({
          streamId: `transaction-${tx.hashHex}`,
          expectedVersion: 0,
          events: [
            {
              ...TransactionAcceptedEvent.create({ hash: tx.hashHex, kind: tx.kind, sender: tx.sender }),
              metadata: { actor: tx.sender },
            },
          ],
        });
      });
    } catch (error) {
      if (await this.known(tx.hash, headPath)) {
        return { ...receipt, duplicate: true };
      }
      throw error;
    }
    await overlay.apply(change);
    return receipt;
  }

  /** Chooses a block's entries: transactions first (in arrival order, each valid after the ones before), then reports. */
  async select(
    ancestors: readonly Candidate[],
    blockTimestamp: number,
    limit: number,
  ): Promise<BlockEntry[]> {
    const { windowMs, futureSkewMs } = this.window();
    const registry = new BlockRegistryView(this.pool);
    const overlay = new RegistryOverlay(registry);
    const used = new Set<string>();
    const nonces = new Set<string>();
    for (const ancestor of ancestors) {
      for (const change of ancestor.changes) {
        await overlay.apply(change);
      }
      ancestor.entries.forEach((e) => used.add(e));
      ancestor.nonces.forEach((n) => nonces.add(n));
    }
    // Entries leave the mempool only when final: those in the blocks above the final tip are skipped
    // in SQL, or a backlog longer than a block would fill every page with them and yield empty blocks.
    const inAncestors = [...used].map((hex) => Buffer.from(hex, 'hex'));
    const entries: BlockEntry[] = [];
    const { rows: txRows } = await this.pool.query<{ bytes: Buffer }>(
      'SELECT bytes FROM mempool_transactions WHERE hash <> ALL($2::bytea[]) ORDER BY received_at, hash LIMIT $1',
      [limit, inAncestors],
    );
    const transactions = txRows.map((row) => Transaction.decode(row.bytes));
    await registry.preload({ organisations: transactions.map((tx) => tx.sender) });
    const context = this.context(blockTimestamp);
    for (const tx of transactions) {
      if (used.has(tx.hashHex)) {
        continue;
      }
      try {
        const change = await decideRegistryTransaction(tx, overlay, context);
        await overlay.apply(change);
        entries.push({ type: 'transaction', transaction: tx });
      } catch {
        // Not valid in this block's state (yet, or any more): it stays for a later block or expires.
      }
    }
    const { rows: reportRows } = await this.pool.query<{ bytes: Buffer }>(
      `SELECT bytes FROM mempool_reports WHERE timestamp >= $1 AND id <> ALL($3::bytea[])
       ORDER BY received_at, id LIMIT $2`,
      [new Date(blockTimestamp - windowMs), limit - entries.length, inAncestors],
    );
    const receiverFingerprints = new Map<string, string | null>();
    const reports = reportRows.map((row) => Report.decode(row.bytes));
    await registry.preload({
      meters: reports.map((r) => r.meterId),
      receivers: reports.flatMap((r) => r.receivers.map((share) => share.id)),
    });
    for (const report of reports) {
      const nonceKey = `${report.meterId}\u0000${report.nonce}`;
      if (
        used.has(report.idHex) ||
        nonces.has(nonceKey) ||
        report.timestamp > blockTimestamp + futureSkewMs
      ) {
        continue;
      }
      if (!(await this.reportFits(report, overlay, receiverFingerprints))) {
        continue;
      }
      nonces.add(nonceKey);
      entries.push({ type: 'report', report });
    }
    return entries;
  }

  /** After a block became final: its entries leave the mempool, and reports that lost their nonce to it too. */
  async removeIncluded(sql: { query: Pool['query'] }, entries: readonly BlockEntry[]): Promise<void> {
    const txHashes = entries.flatMap((e) =>
      e.type === 'transaction' ? [Buffer.from(e.transaction.hash)] : [],
    );
    const reports = entries.flatMap((e) => (e.type === 'report' ? [e.report] : []));
    if (txHashes.length > 0) {
      await sql.query('DELETE FROM mempool_transactions WHERE hash = ANY($1::bytea[])', [txHashes]);
    }
    if (reports.length > 0) {
      await sql.query(
        `DELETE FROM mempool_reports m USING unnest($1::text[], $2::numeric[]) AS q(meter_id, nonce)
         WHERE m.meter_id = q.meter_id AND m.nonce = q.nonce`,
        [reports.map((r) => r.meterId), reports.map((r) => r.nonce.toString())],
      );
    }
  }

  /** Entries that are neither in the final chain nor in a candidate yet, oldest first (to gossip again). */
  async stale(
    olderThanMs: number,
    limit: number,
    inCandidates: ReadonlySet<string>,
  ): Promise<{ transactions: Transaction[]; reports: Uint8Array[] }> {
    const before = new Date(this.clock.now().getTime() - olderThanMs);
    const held = [...inCandidates].map((id) => Buffer.from(id, 'hex'));
    const { rows: txs } = await this.pool.query<{ bytes: Buffer }>(
      `SELECT bytes FROM mempool_transactions WHERE received_at < $1 AND hash <> ALL($3::bytea[])
       ORDER BY received_at LIMIT $2`,
      [before, limit, held],
    );
    const { rows: reports } = await this.pool.query<{ bytes: Buffer }>(
      `SELECT bytes FROM mempool_reports WHERE received_at < $1 AND id <> ALL($3::bytea[])
       ORDER BY received_at LIMIT $2`,
      [before, limit, held],
    );
    return {
      transactions: txs.map((r) => Transaction.decode(r.bytes)),
      reports: reports.map((r) => r.bytes),
    };
  }

  private async reportFits(
    report: Report,
    overlay: RegistryOverlay,
    fingerprints: Map<string, string | null>,
  ): Promise<boolean> {
    const meter = await overlay.meter(report.meterId);
    if (!meter || meter.status !== 'active' || !meter.verificationKey) {
      return false;
    }
    const policy = new Set(meter.policy.map((p) => p.receiver));
    if (report.receivers.length !== policy.size) {
      return false;
    }
    for (const share of report.receivers) {
      if (!policy.has(share.id)) {
        return false;
      }
      let expected = fingerprints.get(share.id);
      if (expected === undefined) {
        const receiver = await overlay.receiver(share.id);
        expected =
          receiver && receiver.status !== 'revoked'
            ? Buffer.from(keyFingerprint(receiver.publicKey)).toString('hex')
            : null;
        fingerprints.set(share.id, expected);
      }
      if (expected !== Buffer.from(share.keyFingerprint).toString('hex')) {
        return false;
      }
    }
    return true;
  }

  /**
   * Final state + the head's branch + the mempool's transactions in order (those that still apply
   * and change the state).
   */
  private async pendingOverlay(headPath: readonly Candidate[]): Promise<RegistryOverlay> {
    const headHex = headPath.at(-1)?.hashHex ?? 'final';
    if (this.pending?.headHex === headHex) {
      return this.pending.overlay;
    }
    // Read once per identity: the rebuild decides every pending transaction, and most name the same
    // organisations, receivers and meters. The reads stay valid until the next block is final,
    // which invalidates the pending state.
    const overlay = new RegistryOverlay(new BlockRegistryView(this.pool));
    const included = new Set<string>();
    for (const candidate of headPath) {
      for (const change of candidate.changes) {
        await overlay.apply(change);
      }
      candidate.entries.forEach((e) => included.add(e));
    }
    // Contract results come two or more a second and change no state: only the others are decided.
    const { rows } = await this.pool.query<{ bytes: Buffer }>(
      'SELECT bytes FROM mempool_transactions WHERE kind <> ALL($1::text[]) ORDER BY received_at, hash',
      [[...KINDS_LAYING_NOTHING]],
    );
    for (const row of rows) {
      const tx = Transaction.decode(row.bytes);
      if (included.has(tx.hashHex)) {
        continue;
      }
      let change: RegistryChange;
      try {
        change = await decideRegistryTransaction(tx, overlay, {
          ...this.context(tx.timestamp),
          futureSkewMs: Number.MAX_SAFE_INTEGER,
        });
      } catch {
        continue;
      }
      await overlay.apply(change);
    }
    this.pending = { headHex, overlay };
    return overlay;
  }

  /**
   * Removes what no block can take any more: reports and transactions older than the accept window
   * (a block's timestamp only grows, and every node refuses a block holding one). Each leaves a
   * `mempool.entry-expired` event on its own stream, after the one that accepted it, so that a
   * receipt that never reached the chain is on record rather than silently gone. `inCandidates`: ids
   * (hex) in blocks not final yet, which may still become final and are left alone.
   */
  async expire(inCandidates: ReadonlySet<string>): Promise<{ reports: number; transactions: number }> {
    const { windowMs, futureSkewMs } = this.window();
    const now = this.clock.now().getTime();
    // A transaction's timestamp is at most futureSkewMs after its arrival.
    const reportCutoff = new Date(now - windowMs);
    const transactionCutoff = new Date(now - windowMs - futureSkewMs);
    const held = [...inCandidates].map((id) => Buffer.from(id, 'hex'));
    const { result } = await this.store.transaction(async (uow) => {
      const { rows: reports } = await uow.sql.query<{ id: Buffer }>(
        `DELETE FROM mempool_reports WHERE id IN
           (SELECT id FROM mempool_reports WHERE timestamp < $1 AND NOT (id = ANY($3::bytea[]))
            ORDER BY timestamp LIMIT $2)
         RETURNING id`,
        [reportCutoff, EXPIRY_BATCH, held],
      );
      const { rows: transactions } = await uow.sql.query<{ hash: Buffer; kind: string }>(
        `DELETE FROM mempool_transactions WHERE hash IN
           (SELECT hash FROM mempool_transactions WHERE received_at < $1 AND NOT (hash = ANY($3::bytea[]))
            ORDER BY received_at LIMIT $2)
         RETURNING hash, kind`,
        [transactionCutoff, EXPIRY_BATCH, held],
      );
      const expired = [
        ...reports.map((r) => ({ stream: 'report', id: r.id.toString('hex'), kind: 'report' })),
        ...transactions.map((t) => ({ stream: 'transaction', id: t.hash.toString('hex'), kind: t.kind })),
      ];
      for (const entry of expired) {
        uow.append({
          streamId: `${entry.stream}-${entry.id}`,
          expectedVersion: 1,
          events: [
            {
              ...MempoolEntryExpiredEvent.create({ id: entry.id, kind: entry.kind, windowMs }),
              metadata: { actor: 'mempool' },
            },
          ],
        });
      }
      return { reports: reports.length, transactions: transactions.length };
    });
    if (result.transactions > 0) {
      this.invalidate();
    }
    return result;
  }

  /** The final state or the mempool changed under the pending state: rebuild it at the next admission. */
  invalidate(): void {
    this.pending = undefined;
  }

  private context(now: number) {
    const { chainId, params } = this.genesis.current();
    return { chainId, params, now, ...this.window() };
  }

  /**
   * The window this node takes entries in: its own (ACCEPT_WINDOW_MS, FUTURE_SKEW_MS) within the
   * consortium's (the genesis' block rules), since a block holding an entry outside the latter is
   * refused by every node.
   */
  private window(): { windowMs: number; futureSkewMs: number } {
    const rules = blockRulesOf(this.genesis.current().document);
    return {
      windowMs: Math.min(this.config.intake.acceptWindowMs, rules.entryWindowMs),
      futureSkewMs: Math.min(this.config.intake.futureSkewMs, rules.futureSkewMs),
    };
  }

  private async known(hash: Uint8Array, headPath: readonly Candidate[]): Promise<boolean> {
    const hex = Buffer.from(hash).toString('hex');
    if (headPath.some((c) => c.entries.has(hex))) {
      return true;
    }
    const { rowCount } = await this.pool.query(
      'SELECT 1 FROM mempool_transactions WHERE hash = $1 UNION ALL SELECT 1 FROM block_transactions WHERE hash = $1',
      [Buffer.from(hash)],
    );
    return (rowCount ?? 0) > 0;
  }
}
