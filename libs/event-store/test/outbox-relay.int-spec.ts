import { Queue, Worker } from 'bullmq';

import { producerConnection, redisOptions } from '@app/queue';
import { createTestDatabase, type TestDatabase, ThrowawayRedis } from '@app/testing';

import { EventStore, type JobSink, OutboxRelay, ProcessedJobs } from '../src';

const QUEUE = 'outbox-test';

/** Producer queues that fail fast while Redis is down, as QueueRegistry's do. */
class TestSink implements JobSink {
  readonly queue: Queue;

  constructor(url: string, prefix: string) {
    this.queue = new Queue(QUEUE, {
      connection: producerConnection(redisOptions(url)),
      prefix,
      skipWaitingForReady: true,
    });
    this.queue.on('error', () => undefined);
  }

  get(name: string) {
    if (name !== QUEUE) {
      throw new Error(`unexpected queue ${name}`);
    }
    return this.queue;
  }
}

async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) {
      throw new Error('condition not met in time');
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('OutboxRelay with a Redis that goes away', () => {
  let db: TestDatabase;
  let redis: ThrowawayRedis;
  let sink: TestSink;
  let worker: Worker | undefined;
  let relay: OutboxRelay | undefined;

  beforeEach(async () => {
    db = await createTestDatabase();
    redis = await ThrowawayRedis.start();
    sink = new TestSink(redis.url, `t${Date.now()}`);
  });

  afterEach(async () => {
    await relay?.stop();
    await worker?.close(true);
    await sink.queue.close().catch(() => undefined);
    await redis.stop();
    await db.drop();
  });

  it('given Redis stopped while events with jobs are appended, when Redis comes back, should deliver every job, and each takes effect exactly once from the worker', async () => {
    const store = new EventStore(db.pool);
    const processed = new ProcessedJobs(db.pool);
    await db.pool.query('CREATE TABLE test_effects (job_id text, meter text)');
    const received: string[] = [];
    worker = new Worker(
      QUEUE,
      async (job) => {
        received.push(job.id!);
        await processed.once('test-worker', job.id!, async (tx) => {
          await tx.query('INSERT INTO test_effects VALUES ($1, $2)', [
            job.id,
            (job.data as { meter: string }).meter,
          ]);
        });
      },
      {
        connection: { ...redisOptions(redis.url), maxRetriesPerRequest: null },
        prefix: sink.queue.opts.prefix,
      },
    );
    worker.on('error', () => undefined);
    relay = new OutboxRelay(db.pool, sink, { pollMs: 50 });
    relay.start();

    await redis.stop();
    for (let i = 0; i < 20; i += 1) {
      await store.append({
        streamId: `meter-${i}`,
        expectedVersion: 0,
        events: [{ type: 'test.alarm-raised', schemaVersion: 1, payload: { meter: `meter-${i}` } }],
        jobs: [{ queue: QUEUE, name: 'notify', jobId: `alarm-meter-${i}`, payload: { meter: `meter-${i}` } }],
      });
    }
    // The appends committed; the jobs wait in the outbox while the relay fails and backs off.
    await waitFor(() => (relay!.status().failures ?? 0) >= 1);
    expect(await relay.pending()).toBe(20);
    const { rows } = await db.pool.query<{ attempts: number }>(
      'SELECT max(attempts) AS attempts FROM outbox',
    );
    expect(rows[0]!.attempts).toBeGreaterThanOrEqual(1);

    await redis.start();
    relay.wake();
    // The relay's back-off (up to 5 s, wake-ups wait) and the client's reconnect delay (up to 5 s)
    // come one after the other, and on a loaded machine Redis itself takes a while to start:
    // delivery is promised, not its timing, so the wait leaves room for all three.
    await waitFor(async () => (await relay!.pending()) === 0, 40_000);
    // The worker's own connection comes back on its own reconnect schedule, after the relay's.
    await waitFor(async () => {
      const { rows: done } = await db.pool.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM test_effects',
      );
      return done[0]!.n === 20;
    }, 40_000);

    // A second delivery of the same jobs (a relay that crashed after Redis took them but before it
    // deleted its rows) changes nothing: BullMQ knows the jobIds, and the effects are recorded.
    await sink.queue.addBulk(
      Array.from({ length: 20 }, (_, i) => ({
        name: 'notify',
        data: { meter: `meter-${i}` },
        opts: { jobId: `alarm-meter-${i}` },
      })),
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect([...received].sort()).toEqual(Array.from({ length: 20 }, (_, i) => `alarm-meter-${i}`).sort());
    const effects = await db.pool.query<{ job_id: string }>('SELECT job_id FROM test_effects');
    expect(effects.rowCount).toBe(20);
    expect(new Set(effects.rows.map((r) => r.job_id)).size).toBe(20);
  }, 90_000);

  it('given a job appended with an event, when the append is rolled back, should never deliver it', async () => {
    const store = new EventStore(db.pool);
    await store.append({
      streamId: 's',
      expectedVersion: 0,
      events: [{ type: 'test.x', schemaVersion: 1, payload: {} }],
    });
    await expect(
      store.transaction((uow) => {
        uow.append({
          streamId: 's',
          expectedVersion: 0, // stale: the whole unit of work rolls back
          events: [{ type: 'test.x', schemaVersion: 1, payload: {} }],
          jobs: [{ queue: QUEUE, name: 'notify', jobId: 'never', payload: {} }],
        });
        return Promise.resolve();
      }),
    ).rejects.toThrow(/expected 0/);
    expect(await new OutboxRelay(db.pool, sink, { pollMs: 50 }).pending()).toBe(0);
  });
});
