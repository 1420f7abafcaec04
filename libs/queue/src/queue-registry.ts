import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { type ConnectionOptions, Queue } from 'bullmq';

import { DEFAULT_JOB_OPTIONS, isQueueName, type QueueName } from './queue-names';
import { QUEUE_CONNECTION, type QueueConnection, type RedisEndpoint } from './redis.module';

export class UnknownQueueError extends Error {
  readonly code = 'QUEUE.UNKNOWN';

  constructor(readonly queue: string) {
    super(`no queue named "${queue}" (see libs/queue/src/queue-names.ts)`);
    this.name = 'UnknownQueueError';
  }
}

/**
 * Connection options for a producer: a command issued while Redis is unreachable fails after one
 * reconnection attempt instead of waiting (so nothing piles up in memory during an outage), and
 * reconnection is retried at least every 5 s (BullMQ's own default backs off to 20 s, which would
 * keep jobs waiting long after Redis is back).
 */
export function producerConnection(options: RedisEndpoint): ConnectionOptions {
  return {
    ...options,
    maxRetriesPerRequest: 1,
    retryStrategy: (attempt: number) => Math.min(attempt * 200, 5_000),
  };
}

/**
 * Producer-side BullMQ queues, created on first use. Their connections fail fast while Redis is
 * down (no offline queue), so that the outbox relay notices at once, keeps its rows, and retries.
 */
@Injectable()
export class QueueRegistry implements OnApplicationShutdown {
  private readonly queues = new Map<QueueName, Queue>();

  constructor(@Inject(QUEUE_CONNECTION) private readonly connection: QueueConnection) {}

  get(name: string): Queue {
    if (!isQueueName(name)) {
      throw new UnknownQueueError(name);
    }
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new Queue(name, {
        connection: producerConnection(this.connection.options),
        prefix: this.connection.prefix,
        defaultJobOptions: DEFAULT_JOB_OPTIONS,
        skipWaitingForReady: true,
      });
      // Connection errors surface on the calls that fail; the queue keeps reconnecting.
      queue.on('error', () => undefined);
      this.queues.set(name, queue);
    }
    return queue;
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close().catch(() => undefined)));
  }
}
