import type { Pool } from 'pg';

import { inTransaction } from '@app/persistence';

import { BackgroundLoop, type LoopStatus } from './background-loop';

/** Where the relay hands jobs: BullMQ queues in production (QueueRegistry). */
export interface JobSink {
  get(queue: string): {
    addBulk(jobs: Array<{ name: string; data: unknown; opts: { jobId: string } }>): Promise<unknown>;
  };
}

interface OutboxRow {
  id: string;
  queue: string;
  job_name: string;
  job_id: string;
  payload: unknown;
}

/**
 * Moves outbox rows to BullMQ after the transactions that wrote them have committed (it can only see
 * committed rows). Rows are locked while being sent and deleted only once Redis has accepted them:
 * if Redis is down the transaction rolls back, the rows stay, and the loop retries with back-off.
 * Delivery is at least once; the jobId (the row's idempotency key) makes BullMQ ignore a second
 * add of a job it still holds, and consumers record processed jobIds (ProcessedJobs) for the rest.
 */
export class OutboxRelay {
  private readonly loop: BackgroundLoop;

  constructor(
    private readonly pool: Pool,
    private readonly sink: JobSink,
    options: { pollMs: number; batchSize?: number; maxBackoffMs?: number },
  ) {
    const batchSize = options.batchSize ?? 500;
    // Jobs wait in the outbox while Redis is away: retry often enough that they leave soon after.
    this.loop = new BackgroundLoop('OutboxRelay', () => this.deliverBatch(batchSize), {
      pollMs: options.pollMs,
      maxBackoffMs: options.maxBackoffMs ?? 5_000,
    });
  }

  start(): void {
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  /** Look now (called on the outbox notification). */
  wake(): void {
    this.loop.wake();
  }

  status(): LoopStatus {
    return this.loop.status();
  }

  async pending(): Promise<number> {
    const { rows } = await this.pool.query<{ count: string }>('SELECT count(*) FROM outbox');
    return Number(rows[0]?.count ?? 0);
  }

  /** Sends one batch; resolves true when there may be more. */
  async deliverBatch(batchSize = 500): Promise<boolean> {
    try {
      return await inTransaction(this.pool, async (tx) => {
        const { rows } = await tx.query<OutboxRow>(
          'SELECT id, queue, job_name, job_id, payload FROM outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED',
          [batchSize],
        );
        if (rows.length === 0) {
          return false;
        }
        const byQueue = new Map<string, OutboxRow[]>();
        for (const row of rows) {
          byQueue.set(row.queue, [...(byQueue.get(row.queue) ?? []), row]);
        }
        for (const [queue, jobs] of byQueue) {
          await this.sink
            .get(queue)
            .addBulk(jobs.map((j) => ({ name: j.job_name, data: j.payload, opts: { jobId: j.job_id } })));
        }
        await tx.query('DELETE FROM outbox WHERE id = ANY($1::bigint[])', [rows.map((r) => r.id)]);
        return rows.length === batchSize;
      });
    } catch (error) {
      // Keep a trace on the rows that could not be sent, for operators; the next attempt may succeed.
      await this.pool
        .query(
          'UPDATE outbox SET attempts = attempts + 1, last_error = $1 WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT $2)',
          [String((error as Error).message).slice(0, 500), batchSize],
        )
        .catch(() => undefined);
      throw error;
    }
  }
}
