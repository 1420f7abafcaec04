import { Inject, Injectable } from '@nestjs/common';
import { ErrorCode } from 'bullmq';
import type { Pool } from 'pg';

import { PG_POOL } from '@app/persistence';
import { ALL_QUEUES, QueueRegistry } from '@app/queue';

import type { FailedJob, OutboxView, QueueState, QueueView, QueuesView, RetryResult } from './console.types';

const STATES: readonly QueueState[] = ['waiting', 'active', 'failed', 'delayed', 'completed', 'prioritized'];

/** A payload is shown, not studied: a few hundred characters are enough to recognise a job. */
const DATA_PREVIEW_CHARS = 300;

/** Failed jobs read per round trip by retryFailed. */
const RETRY_BATCH = 500;

/**
 * What the console shows of the node's background work: each BullMQ queue's job counts and its
 * failed jobs (attempts exhausted: the dead letters), and the outbox rows not yet handed to BullMQ.
 */
@Injectable()
export class QueueInspector {
  constructor(
    private readonly queues: QueueRegistry,
    @Inject(PG_POOL) private readonly pool: Pool,
  ) {}

  async overview(failedLimit: number): Promise<QueuesView> {
    const [queues, outbox] = await Promise.all([
      Promise.all(ALL_QUEUES.map((name) => this.queue(name, failedLimit))),
      this.outbox(),
    ]);
    return { queues, outbox };
  }

  /** Puts one failed job back to wait for a worker (its attempts count again from zero). */
  async retryJob(
    queueName: string,
    jobId: string,
  ): Promise<{ outcome: 'retried' } | { outcome: 'unknown' } | { outcome: 'not-failed'; state: string }> {
    const job = await this.queues.get(queueName).getJob(jobId);
    if (!job) {
      return { outcome: 'unknown' };
    }
    if (!(await job.isFailed())) {
      return { outcome: 'not-failed', state: await job.getState() };
    }
    try {
      // Without the reset BullMQ keeps attemptsMade at its limit: the job would get one try, not all.
      await job.retry('failed', { resetAttemptsMade: true });
    } catch (error) {
      // Retried meanwhile (a second click, another admin): BullMQ refuses a job no longer failed. It
      // may be failed again by now, so its state is not the test: the error's code is.
      if ((error as { code?: unknown }).code === ErrorCode.JobNotInState) {
        return { outcome: 'not-failed', state: await job.getState() };
      }
      throw error;
    }
    return { outcome: 'retried' };
  }

  /**
   * Retries the jobs failed when it is called, each as retryJob does (Queue.retryJobs cannot reset
   * attempts). A job that fails again meanwhile may be retried twice, but never more than that count.
   */
  async retryFailed(queueName: string): Promise<RetryResult> {
    const queue = this.queues.get(queueName);
    const failed = await queue.getFailedCount();
    let tried = 0;
    let retried = 0;
    while (tried < failed) {
      const jobs = await queue.getFailed(0, Math.min(RETRY_BATCH, failed - tried) - 1);
      if (jobs.length === 0) {
        break;
      }
      for (const job of jobs) {
        tried += 1;
        // Gone or taken out of failed since it was listed: nothing to retry.
        const done = await job?.retry('failed', { resetAttemptsMade: true }).then(
          () => true,
          () => false,
        );
        retried += done ? 1 : 0;
      }
    }
    return { queue: queueName, retried };
  }

  private async queue(name: string, failedLimit: number): Promise<QueueView> {
    const queue = this.queues.get(name);
    try {
      const counts = await queue.getJobCounts(...STATES);
      const failed = failedLimit > 0 ? await queue.getFailed(0, failedLimit - 1) : [];
      return {
        name,
        counts: Object.fromEntries(STATES.map((s) => [s, counts[s] ?? 0])) as Record<QueueState, number>,
        failed: failed
          .filter((job) => job !== undefined && job.id !== undefined)
          .map((job): FailedJob => ({
            id: job.id!,
            name: job.name,
            reason: job.failedReason ?? '',
            attemptsMade: job.attemptsMade,
            createdAt: job.timestamp,
            failedAt: job.finishedOn ?? null,
            data: JSON.stringify(job.data ?? null).slice(0, DATA_PREVIEW_CHARS),
          })),
      };
    } catch (error) {
      // Redis away: the console says so for this queue and keeps showing everything else.
      return { name, counts: null, failed: [], error: `Redis did not answer: ${(error as Error).message}` };
    }
  }

  private async outbox(): Promise<OutboxView> {
    const { rows: totals } = await this.pool.query<{ undelivered: string; oldest_at: Date | null }>(
      'SELECT count(*) AS undelivered, min(created_at) AS oldest_at FROM outbox',
    );
    const { rows: stuck } = await this.pool.query<{
      id: string;
      queue: string;
      job_name: string;
      attempts: number;
      last_error: string | null;
      created_at: Date;
    }>(
      `SELECT id, queue, job_name, attempts, last_error, created_at FROM outbox
       WHERE attempts > 0 ORDER BY id LIMIT 20`,
    );
    return {
      undelivered: Number(totals[0]?.undelivered ?? 0),
      oldestAt: totals[0]?.oldest_at?.toISOString() ?? null,
      stuck: stuck.map((r) => ({
        id: r.id,
        queue: r.queue,
        jobName: r.job_name,
        attempts: r.attempts,
        lastError: r.last_error,
        createdAt: r.created_at.toISOString(),
      })),
    };
  }
}
