import { Logger } from '@nestjs/common';
import { type Job, Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';

import type { PublicationSubject, ReceiverConfig } from '@app/config';

import type { ReceiverAnalyses } from './analyses';
import type { ChainFollower } from './chain-follower';

export const SCHEDULED_PUBLICATIONS_QUEUE = 'scheduled-publications';

interface PublicationJob {
  subject: PublicationSubject;
  windowHours: number;
}

/** A receiver's schedule for one subject, in the queue every receiver of the consortium may share. */
export function schedulerKey(receiverId: string, subject: PublicationSubject): string {
  return `${receiverId}:${subject}`;
}

/**
 * The schedules of `receiverId` whose subject it no longer publishes (PUBLISH changed). A receiver id
 * may hold ':' and a subject never does: the subject is after the last ':', so that one receiver
 * never takes another's schedule for its own.
 */
export function staleSchedulerKeys(
  keys: readonly string[],
  receiverId: string,
  subjects: readonly PublicationSubject[],
): string[] {
  return keys.filter((key) => {
    const split = key.lastIndexOf(':');
    if (split < 0) {
      return false;
    }
    const subject = key.slice(split + 1) as PublicationSubject;
    return key.slice(0, split) === receiverId && !subjects.includes(subject);
  });
}

/**
 * The time a scheduled run was due (epoch ms), the same for every attempt of its job: BullMQ names
 * each run of a job scheduler `repeat:<scheduler key>:<due time>` (its `opts.prevMillis` is not kept
 * with the job, and `timestamp` is when the run was queued, a period early). A job of another form,
 * which no schedule makes, falls back on its `timestamp`, stable across its attempts as well.
 */
export function scheduledRunTime(job: Pick<Job, 'id' | 'timestamp'>): number {
  const match = /:(\d{1,15})$/.exec(job.id ?? '');
  return match ? Number(match[1]) : job.timestamp;
}

/**
 * Publishes the receiver's analyses on the chain every period (PUBLISH, PUBLISH_EVERY_SECONDS). The
 * schedule is a BullMQ job scheduler in Redis, not a timer: however many processes the receiver
 * runs, each period gives one job, taken by one of them, retried with back-off if the node refuses
 * or the receiver has not caught up with the chain yet. A period's window ends at the run's due time
 * and its transaction is signed once (ReceiverAnalyses.publishScheduled): a retry after a lost
 * answer, or a stalled job taken again, sends the same transaction, so a period is on the chain once.
 */
export class ScheduledPublications {
  private readonly logger = new Logger(ScheduledPublications.name);
  private connection?: Redis;
  private queue?: Queue<PublicationJob>;
  private worker?: Worker<PublicationJob>;

  constructor(
    private readonly analyses: ReceiverAnalyses,
    private readonly follower: ChainFollower,
    private readonly options: NonNullable<ReceiverConfig['publications']>,
    private readonly receiverId: string,
  ) {}

  async start(): Promise<void> {
    const connection = new Redis(this.options.redisUrl, { maxRetriesPerRequest: null });
    connection.on('error', () => undefined); // BullMQ reconnects; a missed period is published at the next
    this.connection = connection;
    const prefix = this.options.queuePrefix;
    this.queue = new Queue<PublicationJob>(SCHEDULED_PUBLICATIONS_QUEUE, {
      connection,
      prefix,
      defaultJobOptions: {
        attempts: 5,
        backoff: { type: 'exponential', delay: 2_000 },
        removeOnComplete: 1_000,
        removeOnFail: false,
      },
    });
    // Subjects taken off PUBLISH since the last start stop being published.
    const keys = (await this.queue.getJobSchedulers()).map((scheduler) => scheduler.key ?? '');
    for (const key of staleSchedulerKeys(keys, this.receiverId, this.options.subjects)) {
      await this.queue.removeJobScheduler(key);
    }
    for (const subject of this.options.subjects) {
      // Keyed by receiver and subject: a restart (or a second process) updates the same schedule.
      await this.queue.upsertJobScheduler(
        schedulerKey(this.receiverId, subject),
        { every: this.options.everyMs },
        { name: 'publish', data: { subject, windowHours: this.options.windowHours } },
      );
    }
    this.worker = new Worker<PublicationJob>(
      SCHEDULED_PUBLICATIONS_QUEUE,
      async (job: Job<PublicationJob>) => {
        await this.expectCaughtUp();
        const published = await this.analyses.publishScheduled(
          job.data.subject,
          job.data.windowHours,
          scheduledRunTime(job),
        );
        this.logger.log(
          `published ${job.data.subject} (${published.summary.length} entries) in transaction ${published.txHash.slice(0, 16)}…`,
        );
        return { txHash: published.txHash, contentHash: published.contentHash };
      },
      { connection, prefix, concurrency: 1 },
    );
    this.worker.on('failed', (job, error) =>
      this.logger.warn(
        `publishing ${job?.data.subject} failed (attempt ${job?.attemptsMade}): ${error.message}`,
      ),
    );
  }

  /**
   * An analysis is published over a complete view only: a receiver still catching up (just started,
   * or back after an outage) fails the job, which is retried with back-off, and failing that, the
   * next period publishes.
   */
  private async expectCaughtUp(): Promise<void> {
    const status = await this.follower.status();
    if (status.nodeFinalHeight === null || BigInt(status.height) < BigInt(status.nodeFinalHeight)) {
      throw new Error(
        `not publishing yet: the receiver has taken ${status.height} of ${status.nodeFinalHeight ?? 'unknown'} final blocks`,
      );
    }
  }

  async stop(): Promise<void> {
    await this.worker?.close();
    await this.queue?.close();
    await this.connection?.quit().catch(() => undefined);
  }
}
