import type { Pool, PoolClient } from 'pg';

import { inTransaction } from '@app/persistence';

/**
 * Exactly-once effects on top of at-least-once delivery: `once` runs `effect` in a transaction that
 * also records (consumer, jobId); a second delivery of the same job finds the record and does nothing.
 */
export class ProcessedJobs {
  constructor(private readonly pool: Pool) {}

  /** Resolves true if the effect ran now, false if this job had already been processed. */
  once(consumer: string, jobId: string, effect: (tx: PoolClient) => Promise<void>): Promise<boolean> {
    return inTransaction(this.pool, async (tx) => {
      const { rowCount } = await tx.query(
        'INSERT INTO processed_jobs (consumer, job_id) VALUES ($1, $2) ON CONFLICT DO NOTHING',
        [consumer, jobId],
      );
      if (!rowCount) {
        return false;
      }
      await effect(tx);
      return true;
    });
  }
}
