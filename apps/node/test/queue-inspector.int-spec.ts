import { type Job, Worker } from 'bullmq';

import { QueueName, QueueRegistry, redisOptions } from '@app/queue';

import { QueueInspector } from '../src/console/queue-inspector';

const REDIS_URL = 'redis://127.0.0.1:6379';

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) {
      throw new Error('condition not met in time');
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('QueueInspector retries (the console)', () => {
  const prefix = `inspector-${process.pid}-${Date.now()}`;
  let registry: QueueRegistry;
  let worker: Worker;
  const runs = new Map<string, number>();

  beforeAll(() => {
    registry = new QueueRegistry({ options: redisOptions(REDIS_URL), prefix });
    worker = new Worker(
      QueueName.NodeJobs,
      (job: Job) => {
        runs.set(job.id!, (runs.get(job.id!) ?? 0) + 1);
        return Promise.reject(new Error('still broken'));
      },
      { connection: { ...redisOptions(REDIS_URL), maxRetriesPerRequest: null }, prefix },
    );
    worker.on('error', () => undefined);
  });

  afterAll(async () => {
    await worker.close(true);
    await registry.get(QueueName.NodeJobs).obliterate({ force: true });
    await registry.onApplicationShutdown();
  });

  const failedFor = (id: string) => async () =>
    (await registry.get(QueueName.NodeJobs).getJobState(id)) === 'failed';

  it('given a job that used up its attempts, when retried from the console, should get all its attempts again', async () => {
    const queue = registry.get(QueueName.NodeJobs);
    const inspector = new QueueInspector(registry, undefined as never);
    for (const id of ['one', 'all']) {
      await queue.add('job', {}, { jobId: id, attempts: 3, backoff: { type: 'fixed', delay: 10 } });
    }
    await waitFor(failedFor('one'));
    await waitFor(failedFor('all'));
    expect([runs.get('one'), runs.get('all')]).toEqual([3, 3]);

    expect(await inspector.retryJob(QueueName.NodeJobs, 'one')).toEqual({ outcome: 'retried' });
    await waitFor(failedFor('one'));
    expect(runs.get('one')).toBe(6);

    expect(await inspector.retryFailed(QueueName.NodeJobs)).toEqual({
      queue: QueueName.NodeJobs,
      retried: 2,
    });
    await waitFor(failedFor('one'));
    await waitFor(failedFor('all'));
    expect([runs.get('one'), runs.get('all')]).toEqual([9, 6]);
  });

  it('given one failed job retried twice at once (two clicks, two admins), should retry it once and say the other found it no longer failed', async () => {
    const queue = registry.get(QueueName.NodeJobs);
    const inspector = new QueueInspector(registry, undefined as never);
    await queue.add('job', {}, { jobId: 'twice', attempts: 1 });
    await waitFor(failedFor('twice'));

    const outcomes = await Promise.all([
      inspector.retryJob(QueueName.NodeJobs, 'twice'),
      inspector.retryJob(QueueName.NodeJobs, 'twice'),
    ]);

    expect(outcomes.map((o) => o.outcome).sort()).toEqual(['not-failed', 'retried']);
    await waitFor(failedFor('twice'));
    expect(runs.get('twice')).toBe(2);
  });
});
