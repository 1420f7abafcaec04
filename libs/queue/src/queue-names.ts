/**
 * Every BullMQ queue of the product, in one place (STYLE.md 2.4). A job can only be sent to a queue
 * named here: the outbox relay refuses anything else.
 */
export const QueueName = {
  /** Jobs caused by the event journal that the node itself runs (the foundation's own). */
  NodeJobs: 'node-jobs',
} as const;

export type QueueName = (typeof QueueName)[keyof typeof QueueName];

export const ALL_QUEUES: readonly QueueName[] = Object.values(QueueName);

export function isQueueName(value: string): value is QueueName {
  return (ALL_QUEUES as readonly string[]).includes(value);
}

/**
 * Defaults for every job: a few attempts with exponential back-off; completed jobs are kept a day so
 * that a second delivery of the same jobId (the outbox's idempotency key) is recognised and ignored;
 * failed jobs are kept for people to look at.
 */
export const DEFAULT_JOB_OPTIONS = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 1_000 },
  removeOnComplete: { age: 24 * 3600, count: 100_000 },
  removeOnFail: false,
} as const;
