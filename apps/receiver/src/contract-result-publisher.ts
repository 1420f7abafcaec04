import type { Pool } from 'pg';

import type { SecretScalar } from '@app/crypto';
import { canonicalJson } from '@app/kernel';
import { MAX_TX_BODY_BYTES, OWNER_SENDER_PREFIX, Transaction } from '@app/ledger';
import { inTransaction, type SqlExecutor } from '@app/persistence';
import { type ContractResultEntry, MAX_CONTRACT_RESULTS_PER_TX } from '@app/registry';

import { NotReplaceableYet, type SentTransactions } from './sent-transactions';

/** A local result key for an owner's contract: `<trigger>#<contract id>` (the chain carries both apart). */
export const OWNER_RESULT_SEPARATOR = '#';

/** Room left in a body for its receiver id and framing. */
const BODY_FRAMING_BYTES = 256;

/** Batches sent to the node and not answered yet, at most. */
export const SENDS_IN_FLIGHT = 4;

export interface ContractResultPublisherOptions {
  receiverId: string;
  organisationId: string;
  organisationKey: SecretScalar;
  chainId: string;
}

interface ResultRow {
  trigger: string;
  meter_id: string;
  contract_id: string;
  contract_version: number;
  input: Record<string, number | string | boolean>;
  result_hash: string;
  actions: Array<{ id: string; type: string; message: string }>;
}

/**
 * Puts a receiver's contract results on the chain, as many per contract.result transaction as fit
 * (a transaction per result cost every node a signature check per result, more than the report it
 * answers). A batch is claimed and its signed transaction stored in one database transaction, then
 * sent, up to SENDS_IN_FLIGHT at once; until a node accepts it, every flush sends those same bytes
 * again (the node answers a known transaction as a duplicate), so a result is never in two
 * transactions. A node's acceptance is not the end: SentTransactions keeps the batch until it is in a
 * final block, and sends it again if the node lost it unincluded. A batch a node finds too old
 * (TX.STALE) is signed again with a fresh timestamp, but only once the stale one can never be in a
 * final block (SentTransactions.replace): a node refusing it as stale does not know it, but another
 * node's mempool or block might, and the registry's rules would put both on the chain.
 * Several processes of one receiver may flush at once: rows are claimed with SKIP LOCKED.
 */
export class ContractResultPublisher {
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly db: Pool,
    private readonly options: ContractResultPublisherOptions,
    private readonly sent: SentTransactions,
  ) {
    sent.handle('contract.result', (stale, maxInDoubt) => this.resign(stale, maxInDoubt));
  }

  /**
   * Resolves once the results under `keys` are in transactions a node accepted; throws if they are
   * not yet (the caller's job retries with back-off).
   */
  async publish(keys: readonly string[]): Promise<void> {
    await this.flush();
    if ((await this.unaccepted(keys)) === 0) {
      return;
    }
    // A flush already running may have read the results before these were written: one more.
    await this.flush();
    const waiting = await this.unaccepted(keys);
    if (waiting > 0) {
      throw new Error(`${waiting} of ${keys.length} contract results are not on the node yet`);
    }
  }

  /** One flush at a time in this process: sends what is pending, then batches and sends the rest. */
  flush(): Promise<void> {
    this.flushing ??= this.flushNow().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  /**
   * How many of these results no node has accepted yet (a key without a row has nothing to publish;
   * a batch pruned once final was accepted).
   */
  private async unaccepted(keys: readonly string[]): Promise<number> {
    const { rows } = await this.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM contract_results r
       LEFT JOIN contract_result_batches b ON b.receiver_id = r.receiver_id AND b.tx_hash = r.tx_hash
       WHERE r.receiver_id = $1 AND r.trigger = ANY($2::text[])
         AND (r.tx_hash IS NULL OR (b.tx_hash IS NOT NULL AND b.accepted_at IS NULL))`,
      [this.options.receiverId, keys],
    );
    return rows[0]!.n;
  }

  private async flushNow(): Promise<void> {
    const failures: unknown[] = [];
    // A node answers a transaction after the blocks queued before it, a good part of a second when it
    // is busy: one batch at a time would publish fewer results than a busy chain produces.
    const sending = new Set<Promise<void>>();
    const sendInTurn = async (tx: Transaction) => {
      const sent = this.send(tx)
        .catch((error: unknown) => {
          // A stale batch that may still reach a block waits (SentTransactions sweeps it), possibly for
          // the chain's entry window: it does not hold the next results back, its own job retries.
          if (!(error instanceof NotReplaceableYet)) {
            failures.push(error);
          }
        })
        .finally(() => sending.delete(sent));
      sending.add(sent);
      if (sending.size >= SENDS_IN_FLIGHT) {
        await Promise.race(sending);
      }
    };
    const { rows: pending } = await this.db.query<{ tx: Buffer }>(
      `SELECT tx FROM contract_result_batches WHERE receiver_id = $1 AND accepted_at IS NULL ORDER BY created_at`,
      [this.options.receiverId],
    );
    for (const { tx } of pending) {
      await sendInTurn(Transaction.decode(tx));
    }
    // While the node refuses or cannot be reached, results stay unclaimed: fewer, fuller batches later.
    while (failures.length === 0) {
      const batch = await this.claim();
      if (!batch) {
        break;
      }
      await sendInTurn(batch);
    }
    await Promise.all(sending);
    if (failures.length > 0) {
      throw failures[0];
    }
  }

  /** The oldest results no batch holds, as many as fit, in a signed transaction stored with them. */
  private claim(): Promise<Transaction | undefined> {
    return inTransaction(this.db, async (sql) => {
      const { rows } = await sql.query<ResultRow>(
        `SELECT trigger, meter_id, contract_id, contract_version, input, result_hash, actions
         FROM contract_results WHERE receiver_id = $1 AND tx_hash IS NULL
         ORDER BY created_at, trigger LIMIT $2 FOR UPDATE SKIP LOCKED`,
        [this.options.receiverId, MAX_CONTRACT_RESULTS_PER_TX],
      );
      const keys: string[] = [];
      const results: ContractResultEntry[] = [];
      let bytes = BODY_FRAMING_BYTES;
      for (const row of rows) {
        const entry = chainEntry(row, this.options.organisationId);
        bytes += Buffer.byteLength(canonicalJson(entry)) + 1;
        if (bytes > MAX_TX_BODY_BYTES) {
          break;
        }
        keys.push(row.trigger);
        results.push(entry);
      }
      if (results.length === 0) {
        return undefined;
      }
      const tx = this.sign(results, Date.now());
      await this.store(sql, tx, results.length);
      await sql.query(
        'UPDATE contract_results SET tx_hash = $3 WHERE receiver_id = $1 AND trigger = ANY($2::text[])',
        [this.options.receiverId, keys, Buffer.from(tx.hash)],
      );
      return tx;
    });
  }

  /** A batch's signed transaction, kept until it is final (and SENT_RETENTION_HOURS after). */
  private async store(sql: SqlExecutor, tx: Transaction, results: number): Promise<void> {
    await sql.query(
      `INSERT INTO contract_result_batches (receiver_id, tx_hash, tx, results, created_at) VALUES ($1, $2, $3, $4, now())`,
      [this.options.receiverId, Buffer.from(tx.hash), Buffer.from(tx.encode()), results],
    );
  }

  private sign(results: ContractResultEntry[], timestamp: number): Transaction {
    return Transaction.sign(
      {
        chainId: this.options.chainId,
        kind: 'contract.result',
        sender: this.options.organisationId,
        timestamp,
        body: { receiverId: this.options.receiverId, results },
      },
      this.options.organisationKey,
    );
  }

  /** Sends a stored batch (another process may have signed it again: it sends the replacement). */
  private async send(tx: Transaction): Promise<void> {
    await this.sent.send('contract.result', tx);
  }

  /**
   * The same results under a fresh timestamp, in place of the stale transaction (SentTransactions
   * decides when that is safe, and `maxInDoubt` keeps a send made since out of it).
   */
  private resign(stale: Transaction, maxInDoubt: number): Promise<Transaction | undefined> {
    const { results } = stale.body as { results: ContractResultEntry[] };
    const fresh = this.sign(results, Date.now());
    return inTransaction(this.db, async (sql) => {
      // Taken first, so that of two processes only one replaces it.
      const { rowCount } = await sql.query(
        `DELETE FROM contract_result_batches
         WHERE receiver_id = $1 AND tx_hash = $2 AND final_at IS NULL AND sends_in_doubt <= $3`,
        [this.options.receiverId, Buffer.from(stale.hash), maxInDoubt],
      );
      if (rowCount === 0) {
        return undefined;
      }
      await this.store(sql, fresh, results.length);
      await sql.query('UPDATE contract_results SET tx_hash = $3 WHERE receiver_id = $1 AND tx_hash = $2', [
        this.options.receiverId,
        Buffer.from(stale.hash),
        Buffer.from(fresh.hash),
      ]);
      return fresh;
    });
  }
}

/**
 * A result as the chain records it: the chain's trigger is the report, and the contract is named by
 * its owner, id and version (an owner's device contract is kept under `<trigger>#<contract id>`).
 */
function chainEntry(row: ResultRow, organisationId: string): ContractResultEntry {
  const ownersContract = row.trigger.includes(OWNER_RESULT_SEPARATOR);
  return {
    contractId: row.contract_id,
    contractVersion: row.contract_version,
    contractOwner: ownersContract ? `${OWNER_SENDER_PREFIX}${row.meter_id}` : organisationId,
    meterId: row.meter_id,
    trigger: row.trigger.split(OWNER_RESULT_SEPARATOR)[0]!,
    input: row.input,
    resultHash: row.result_hash,
    actions: row.actions,
  };
}
