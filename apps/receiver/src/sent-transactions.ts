import { Logger } from '@nestjs/common';
import type { Pool } from 'pg';
import { Counter, Gauge, type Registry } from 'prom-client';

import { Transaction } from '@app/ledger';

import {
  lookUpTransaction,
  NodeRefusal,
  nodeFinalHeight,
  reachedNoMempool,
  submitTransaction,
} from './node-transactions';

/** The transactions a receiver signs, and the table that keeps each kind until it is final. */
export type SentKind = 'contract.result' | 'receiver.publication';

const TABLES: Readonly<Record<SentKind, string>> = {
  'contract.result': 'contract_result_batches',
  'receiver.publication': 'receiver_publications',
};

/** Stored transactions looked up on the node per kind and sweep, a page at a time (sweep()). */
const SWEEP_ROWS = 200;

/** The longest pause between two sweeps. */
const SWEEP_EVERY_MS = 10_000;

/**
 * Puts the same body under a fresh timestamp in place of `stale` (one row's transaction and hash
 * change together), provided its row still holds `stale`, is not final, and counts at most
 * `maxInDoubt` sends that may have reached a node. Returns the replacement, or undefined when the
 * row no longer fits (another process replaced it, or sent it meanwhile).
 */
export type Replace = (stale: Transaction, maxInDoubt: number) => Promise<Transaction | undefined>;

export interface SentTransactionsOptions {
  receiverId: string;
  nodeUrl: string;
  /** An Authorization header for the node (the organisation's token). */
  nodeAuthorization: () => string;
  /**
   * The consortium's entry window (the genesis' block rules): every node refuses a block holding a
   * transaction older than the block by more than this.
   */
  entryWindowMs: number;
  /** A transaction not final this long after a node accepted it is looked up on the node. */
  resendAfterMs: number;
  /** A final transaction's row is kept this long, then pruned. */
  retentionMs: number;
  /** Rows looked up per kind and sweep (SWEEP_ROWS by default). */
  sweepRows?: number;
}

/** A stale transaction that may still reach a block: it is not signed again yet. */
export class NotReplaceableYet extends Error {}

/**
 * A receiver's signed transactions (contract results, scheduled publications) from the send until the
 * chain has them. Each is stored signed before it is sent, and a retry sends the same bytes, which a
 * node that knows them answers as a duplicate. A node's acceptance is not the end: a mempool drops
 * what no block took within its accept window (a consortium stalled for longer), so a sweep looks up
 * each transaction not final `resendAfterMs` after its acceptance, and sends the same bytes again to
 * a node that no longer knows it. Only a transaction in a final block that this receiver took counts
 * as final, and its row is pruned `retentionMs` later.
 *
 * A node that refuses the bytes as too old (TX.STALE) gets the same body signed again under a fresh
 * timestamp, and never two of them can reach the chain: the replacement is made only once no copy of
 * the stale one can ever be in a final block (replace()). Two different transactions would carry the
 * same results, and the registry's rules would take both: they do not look for a result already on
 * the chain. Actions are not delivered from the chain, so a replacement delivers nothing twice.
 */
export class SentTransactions {
  private readonly logger = new Logger(SentTransactions.name);
  private readonly replacers = new Map<SentKind, Replace>();
  private readonly resent: Counter<'kind' | 'how'>;
  private readonly pruned: Counter<'kind'>;
  /** Stale transactions already said to wait, so that each is logged once, not at every sweep. */
  private readonly waiting = new Set<string>();
  /** Where each kind's next sweep goes on: after the last row of its previous page. */
  private readonly sweepFrom = new Map<SentKind, { createdAt: Date; txHash: Buffer }>();
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;

  constructor(
    private readonly db: Pool,
    private readonly options: SentTransactionsOptions,
    metrics: Registry,
  ) {
    this.resent = new Counter({
      name: 'cbsg_receiver_transactions_resent_total',
      help:
        "The receiver's transactions sent again, by kind and how: same (the stored bytes, to a node that " +
        'had accepted them and lost them unincluded) or signed-again (the same body under a fresh timestamp, ' +
        'in place of one the node found too old)',
      labelNames: ['kind', 'how'],
      registers: [metrics],
    });
    this.pruned = new Counter({
      name: 'cbsg_receiver_transactions_pruned_total',
      help: "The receiver's final transactions removed after SENT_RETENTION_HOURS, by kind",
      labelNames: ['kind'],
      registers: [metrics],
    });
    const unconfirmed: Gauge<'kind'> = new Gauge({
      name: 'cbsg_receiver_transactions_unconfirmed',
      help: "The receiver's transactions not in a final block yet, by kind",
      labelNames: ['kind'],
      registers: [metrics],
      collect: async () => {
        for (const kind of this.replacers.keys()) {
          const { rows } = await this.db
            .query<{ n: number }>(
              `SELECT count(*)::int AS n FROM ${TABLES[kind]} WHERE receiver_id = $1 AND final_at IS NULL`,
              [this.options.receiverId],
            )
            .catch(() => ({ rows: [] }));
          if (rows[0]) {
            unconfirmed.set({ kind }, rows[0].n);
          }
        }
      },
    });
  }

  /** A kind's stored transactions are swept, and replaced with `replace` once stale. */
  handle(kind: SentKind, replace: Replace): void {
    this.replacers.set(kind, replace);
  }

  /** Periodic sweeps; several processes of one receiver may sweep at once (every step is idempotent). */
  start(): void {
    this.timer ??= setInterval(
      () => void this.sweepOnce(),
      Math.min(SWEEP_EVERY_MS, this.options.resendAfterMs),
    );
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.sweeping;
  }

  /**
   * Sends a stored transaction, and marks it accepted once a node takes it. Returns the transaction
   * the node took: the stored one, or its replacement when the node found it too old; undefined when
   * another process replaced it (and sends the replacement). Throws NotReplaceableYet for a stale
   * one that may still reach a block, and the node's refusal or the fetch error otherwise.
   */
  async send(kind: SentKind, tx: Transaction): Promise<Transaction | undefined> {
    try {
      await this.attempt(kind, tx);
      return tx;
    } catch (error) {
      if (!(error instanceof NodeRefusal && error.code === 'TX.STALE')) {
        throw error;
      }
    }
    const fresh = await this.replace(kind, tx);
    if (fresh) {
      await this.attempt(kind, fresh);
    }
    return fresh;
  }

  /**
   * One pass over each kind: what is not final `resendAfterMs` after its acceptance (or its storing,
   * if no node accepted it) is looked up on the node, and final rows past the retention are pruned.
   */
  async sweep(): Promise<void> {
    const pageRows = this.options.sweepRows ?? SWEEP_ROWS;
    for (const kind of this.replacers.keys()) {
      const table = TABLES[kind];
      // A page after the previous sweep's, from the first again after the last: transactions that
      // wait (a stale one may wait days for the entry window) never hold back those behind them.
      const from = this.sweepFrom.get(kind);
      const { rows } = await this.db.query<{
        tx: Buffer;
        tx_hash: Buffer;
        created_at: Date;
        accepted: boolean;
      }>(
        `SELECT tx, tx_hash, created_at, accepted_at IS NOT NULL AS accepted FROM ${table}
         WHERE receiver_id = $1 AND final_at IS NULL
           AND coalesce(accepted_at, created_at) < now() - make_interval(secs => $2)
           ${from ? 'AND (created_at, tx_hash) > ($4, $5)' : ''}
         ORDER BY created_at, tx_hash LIMIT $3`,
        [
          this.options.receiverId,
          this.options.resendAfterMs / 1_000,
          pageRows,
          ...(from ? [from.createdAt, from.txHash] : []),
        ],
      );
      const last = rows[rows.length - 1];
      if (last && rows.length === pageRows) {
        this.sweepFrom.set(kind, { createdAt: last.created_at, txHash: last.tx_hash });
      } else {
        this.sweepFrom.delete(kind);
      }
      for (const row of rows) {
        const tx = Transaction.decode(row.tx);
        await this.check(kind, tx, row.accepted).catch((error: unknown) => {
          if (error instanceof NotReplaceableYet) {
            if (!this.waiting.has(tx.hashHex)) {
              this.waiting.add(tx.hashHex);
              this.logger.warn(error.message);
            }
            return;
          }
          this.logger.warn(`${kind} ${tx.hashHex.slice(0, 16)}… not confirmed: ${(error as Error).message}`);
        });
      }
      const { rowCount } = await this.db.query(
        `DELETE FROM ${table} WHERE receiver_id = $1 AND final_at < now() - make_interval(secs => $2)`,
        [this.options.receiverId, this.options.retentionMs / 1_000],
      );
      if (rowCount) {
        this.pruned.inc({ kind }, rowCount);
      }
    }
  }

  private sweepOnce(): Promise<void> {
    this.sweeping ??= this.sweep()
      .catch((error: unknown) => this.logger.warn(`sweep failed: ${(error as Error).message}`))
      .finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  /** Where the node has the transaction, and what follows: final, left to the node, or sent again. */
  private async check(kind: SentKind, tx: Transaction, accepted: boolean): Promise<void> {
    const table = TABLES[kind];
    const key = [this.options.receiverId, Buffer.from(tx.hash)];
    const where = await lookUpTransaction(this.options.nodeUrl, this.options.nodeAuthorization(), tx.hashHex);
    if (where.status === 'final') {
      // Final as this receiver took the chain: only if the block it processed at that height is the
      // node's (until it has processed that height, the next sweep asks again).
      await this.db.query(
        `UPDATE ${table} t SET final_height = $3, final_at = now(), accepted_at = coalesce(t.accepted_at, now())
         FROM receiver_blocks b
         WHERE t.receiver_id = $1 AND t.tx_hash = $2 AND b.receiver_id = $1 AND b.height = $3 AND b.block_hash = $4`,
        [...key, where.height, Buffer.from(where.blockHash, 'hex')],
      );
      this.waiting.delete(tx.hashHex);
      return;
    }
    if (where.status !== 'unknown') {
      // Pending, or in a block not final yet: the node has it (an answer lost on the way, if not accepted).
      await this.db.query(
        `UPDATE ${table} SET accepted_at = coalesce(accepted_at, now()) WHERE receiver_id = $1 AND tx_hash = $2`,
        key,
      );
      return;
    }
    // Not in the node's chain, blocks or mempool: dropped unincluded (its accept window passed while
    // no block was made), or never taken. The same bytes first; a replacement if it calls them stale.
    const sent = await this.send(kind, tx);
    if (sent === tx && accepted) {
      this.resent.inc({ kind, how: 'same' });
      this.logger.warn(`${kind} ${tx.hashHex.slice(0, 16)}… was lost unincluded by the node; sent again`);
    }
  }

  /** One send of the stored bytes, counted in doubt before it is made; marked accepted if taken. */
  private async attempt(kind: SentKind, tx: Transaction): Promise<void> {
    const table = TABLES[kind];
    const key = [this.options.receiverId, Buffer.from(tx.hash)];
    // Counted first, so that a process that dies mid-send leaves it counted.
    await this.db.query(
      `UPDATE ${table} SET sends_in_doubt = sends_in_doubt + 1 WHERE receiver_id = $1 AND tx_hash = $2`,
      key,
    );
    try {
      await submitTransaction(this.options.nodeUrl, tx);
    } catch (error) {
      if (reachedNoMempool(error)) {
        await this.db.query(
          `UPDATE ${table} SET sends_in_doubt = sends_in_doubt - 1 WHERE receiver_id = $1 AND tx_hash = $2`,
          key,
        );
      }
      throw error;
    }
    await this.db.query(
      `UPDATE ${table} SET accepted_at = now() WHERE receiver_id = $1 AND tx_hash = $2`,
      key,
    );
  }

  /**
   * The replacement of a transaction the node refuses as too old: the same body under a fresh
   * timestamp, made only once no copy of the stale one can ever be in a final block, which holds if
   *  - no send of it may have reached a node (sends_in_doubt is 0: each was refused with a 4xx or
   *    found no server), so no mempool or block anywhere holds it; or
   *  - outOfReach(): the final chain has passed the stale one's entry window without it.
   * Until then it is kept, and looked up again at each sweep: the node may still take it (in a block
   * of a candidate branch that becomes final) or, if it never does, the chain's time passes the window.
   */
  private async replace(kind: SentKind, stale: Transaction): Promise<Transaction | undefined> {
    const { rows } = await this.db.query<{ in_doubt: number }>(
      `SELECT sends_in_doubt AS in_doubt FROM ${TABLES[kind]}
       WHERE receiver_id = $1 AND tx_hash = $2 AND final_at IS NULL`,
      [this.options.receiverId, Buffer.from(stale.hash)],
    );
    const row = rows[0];
    if (!row) {
      return undefined; // replaced by another process meanwhile
    }
    let maxInDoubt = 0;
    if (row.in_doubt > 0) {
      if (!(await this.outOfReach(stale))) {
        throw new NotReplaceableYet(
          `${kind} ${stale.hashHex.slice(0, 16)}… is too old for the node but may still reach a block ` +
            `(a node took it): it is signed again once the final chain is past ` +
            `${new Date(stale.timestamp + this.options.entryWindowMs).toISOString()} without it`,
        );
      }
      maxInDoubt = Number.MAX_SAFE_INTEGER;
    }
    const fresh = await this.replacers.get(kind)?.(stale, Math.min(maxInDoubt, 2 ** 31 - 1));
    if (fresh) {
      this.resent.inc({ kind, how: 'signed-again' });
      this.waiting.delete(stale.hashHex);
      this.logger.warn(
        `${kind} ${stale.hashHex.slice(0, 16)}… was too old for the node; signed again as ${fresh.hashHex.slice(0, 16)}…`,
      );
    }
    return fresh;
  }

  /**
   * Whether `tx` can never be in a final block any more. The receiver's checkpoint block B is final
   * and stamped after tx.timestamp + the entry window. Every block that becomes final from now on
   * descends from B, and a block is stamped after its parent (one slot each), so every node refuses
   * it if it holds tx (the block validator's window). A candidate block that holds tx is stamped
   * before B, so it is neither B nor after it: it can never be final. And the node, final at least up
   * to B, has tx in no final block. (A node's accept window, ACCEPT_WINDOW_MS, is its own setting, and
   * a node set wider, or one that got tx by gossip late, may keep it in its mempool up to the entry
   * window: only the chain's rule bounds every node.)
   */
  private async outOfReach(tx: Transaction): Promise<boolean> {
    const { rows } = await this.db.query<{ height: string; block_time: Date | null }>(
      'SELECT height, block_time FROM receiver_checkpoints WHERE receiver_id = $1',
      [this.options.receiverId],
    );
    const checkpoint = rows[0];
    if (
      !checkpoint?.block_time ||
      checkpoint.block_time.getTime() <= tx.timestamp + this.options.entryWindowMs
    ) {
      return false;
    }
    if ((await nodeFinalHeight(this.options.nodeUrl)) < BigInt(checkpoint.height)) {
      return false; // a node behind this receiver (restored from a backup) cannot say what B's chain holds
    }
    const where = await lookUpTransaction(this.options.nodeUrl, this.options.nodeAuthorization(), tx.hashHex);
    return where.status === 'unknown' || where.status === 'pending';
  }
}
