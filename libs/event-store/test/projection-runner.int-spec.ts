import type { PoolClient } from 'pg';

import type { StoredEvent } from '@app/kernel';
import { createTestDatabase, type TestDatabase } from '@app/testing';

import { EventStore, type Projection, ProjectionRunner } from '../src';

/**
 * A read model of meter totals. Every applied position is also recorded under a primary key, so that
 * an event applied twice fails loudly instead of silently doubling a total.
 */
class MeterTotals implements Projection {
  readonly name = 'meter-totals';
  readonly tables = ['test_meter_totals', 'test_applied_positions'];
  failAtPosition: bigint | undefined;

  async apply(events: readonly StoredEvent[], tx: PoolClient): Promise<void> {
    for (const event of events) {
      await tx.query('INSERT INTO test_applied_positions (position) VALUES ($1)', [
        event.position.toString(),
      ]);
      if (event.position === this.failAtPosition) {
        throw new Error(`crash while applying ${event.position}`);
      }
      const { meter, kwh } = event.payload as { meter: string; kwh: number };
      await tx.query(
        `INSERT INTO test_meter_totals (meter, kwh, readings) VALUES ($1, $2, 1)
         ON CONFLICT (meter) DO UPDATE SET kwh = test_meter_totals.kwh + EXCLUDED.kwh, readings = test_meter_totals.readings + 1`,
        [meter, kwh],
      );
    }
  }
}

async function readModel(db: TestDatabase): Promise<Array<{ meter: string; kwh: string; readings: number }>> {
  const { rows } = await db.pool.query<{ meter: string; kwh: string; readings: number }>(
    'SELECT meter, kwh::text, readings FROM test_meter_totals ORDER BY meter',
  );
  return rows;
}

describe('ProjectionRunner', () => {
  let db: TestDatabase;
  let store: EventStore;
  /** Runners a test started; stopped even when the test fails, or their loops keep jest alive. */
  let started: ProjectionRunner[];

  function startedRunner(options: ConstructorParameters<typeof ProjectionRunner>[2]): ProjectionRunner {
    const runner = new ProjectionRunner(db.pool, store, options);
    started.push(runner);
    return runner;
  }

  beforeEach(async () => {
    db = await createTestDatabase({ poolSize: 30 });
    await db.pool.query(
      'CREATE TABLE test_meter_totals (meter text PRIMARY KEY, kwh numeric NOT NULL, readings int NOT NULL)',
    );
    await db.pool.query('CREATE TABLE test_applied_positions (position bigint PRIMARY KEY)');
    store = new EventStore(db.pool);
    started = [];
  });

  afterEach(async () => {
    await Promise.all(started.map((runner) => runner.stop()));
    await db.drop();
  });

  async function appendReadings(count: number, from = 0): Promise<void> {
    await store.appendMany(
      Array.from({ length: count }, (_, i) => ({
        streamId: `reading-${from + i}`,
        expectedVersion: 0,
        events: [
          { type: 'test.reading', schemaVersion: 1, payload: { meter: `m-${(from + i) % 7}`, kwh: 0.25 } },
        ],
      })),
    );
  }

  it('given a projection that crashes mid-way, when restarted, should resume from its checkpoint with no event applied twice, and a rebuild should give the same read model', async () => {
    await appendReadings(1_000);
    const crashing = new MeterTotals();
    crashing.failAtPosition = 640n;
    const first = new ProjectionRunner(db.pool, store, { pollMs: 50, batchSize: 100 });
    first.register(crashing);
    await expect(first.catchUp('meter-totals')).rejects.toThrow('crash while applying 640');
    // Batches up to 600 committed with their checkpoint; the batch with 640 rolled back entirely.
    expect((await db.pool.query('SELECT position FROM projection_checkpoints')).rows[0]).toEqual({
      position: '600',
    });
    expect((await db.pool.query('SELECT count(*)::int AS n FROM test_applied_positions')).rows[0]).toEqual({
      n: 600,
    });

    // A new process: same projection, no crash this time.
    const second = new ProjectionRunner(db.pool, store, { pollMs: 50, batchSize: 100 });
    second.register(new MeterTotals());
    await expect(second.catchUp('meter-totals')).resolves.toBe(1_000n);
    const applied = (await db.pool.query('SELECT count(*)::int AS n FROM test_applied_positions')).rows[0];
    expect(applied).toEqual({ n: 1_000 });
    const live = await readModel(db);
    expect(live.reduce((n, r) => n + r.readings, 0)).toBe(1_000);
    expect(live.find((r) => r.meter === 'm-0')).toEqual({ meter: 'm-0', kwh: '35.75', readings: 143 });

    await expect(second.rebuild('meter-totals')).resolves.toBe(1_000n);
    expect(await readModel(db)).toEqual(live);
  });

  it('given a batch whose COMMIT fails, should report the last committed checkpoint, not the batch it rolled back', async () => {
    await appendReadings(10);
    // A deferred constraint fails at COMMIT, after the batch and its checkpoint update ran.
    await db.pool.query(
      'CREATE TABLE test_commit_guard (id int, CONSTRAINT one_row UNIQUE (id) DEFERRABLE INITIALLY DEFERRED)',
    );
    const runner = new ProjectionRunner(db.pool, store, { pollMs: 50 });
    runner.register({
      name: 'fails-at-commit',
      tables: [],
      apply: async (_events, tx) => {
        await tx.query('INSERT INTO test_commit_guard (id) VALUES (1), (1)');
      },
    });

    await expect(runner.catchUp('fails-at-commit')).rejects.toThrow(/one_row/);
    expect(runner.status()[0]).toMatchObject({ name: 'fails-at-commit', position: 0n });
    // The checkpoint row itself was created in the transaction that rolled back.
    expect((await db.pool.query('SELECT position FROM projection_checkpoints')).rows).toEqual([]);
  });

  it('given a running projection and concurrent writers on separate connections, when it keeps up, should see every event once, in position order, with no gap', async () => {
    const seen: bigint[] = [];
    const runner = startedRunner({ pollMs: 5, batchSize: 50 });
    runner.register({
      name: 'order-check',
      tables: [],
      apply: (events) => {
        seen.push(...events.map((e) => e.position));
        return Promise.resolve();
      },
    });
    runner.start();
    await Promise.all(
      Array.from({ length: 12 }, async (_, writer) => {
        const own = new EventStore(db.pool);
        for (let i = 0; i < 25; i += 1) {
          await own.append({
            streamId: `w-${writer}-${i}`,
            expectedVersion: 0,
            events: [{ type: 'test.tick', schemaVersion: 1, payload: { writer, i } }],
          });
        }
      }),
    );
    await runner.catchUp('order-check');
    await runner.stop();
    expect(seen).toEqual(Array.from({ length: 300 }, (_, i) => BigInt(i + 1)));
  });

  it('given a wake-up after every append, when it coalesces, should apply every event once in a few steps', async () => {
    const batches: bigint[][] = [];
    const applied: number[] = [];
    const runner = startedRunner({ pollMs: 60_000, minWakeIntervalMs: 300 });
    runner.register({
      name: 'coalesced',
      tables: [],
      apply: (events) => {
        batches.push(events.map((e) => e.position));
        applied.push(performance.now());
        return Promise.resolve();
      },
    });
    runner.start();
    for (let i = 0; i < 40; i += 1) {
      await store.append({
        streamId: `c-${i}`,
        expectedVersion: 0,
        events: [{ type: 'test.tick', schemaVersion: 1, payload: { i } }],
      });
      runner.wake(); // what the journal's NOTIFY does after each append
    }
    await waitFor(() => runner.status()[0]!.position === 40n, 5_000);
    expect(batches.flat()).toEqual(Array.from({ length: 40 }, (_, i) => BigInt(i + 1)));
    // Each step after an idle one waited for the interval: without it, steps follow the appends
    // milliseconds apart.
    for (let k = 1; k < applied.length; k += 1) {
      expect(applied[k]! - applied[k - 1]!).toBeGreaterThanOrEqual(290);
    }
  });

  it('given an append whose transaction commits late, when a later append waits for it, should never let a subscriber see the later position first', async () => {
    const runner = new ProjectionRunner(db.pool, store, { pollMs: 5 });
    const seen: bigint[] = [];
    runner.register({
      name: 'late-commit',
      tables: [],
      apply: (events) => {
        seen.push(...events.map((e) => e.position));
        return Promise.resolve();
      },
    });

    const slow = await db.pool.connect();
    await slow.query('BEGIN');
    const [slowOutcome] = await store.appendInTransaction(slow, [
      {
        streamId: 'slow',
        expectedVersion: 0,
        events: [{ type: 'test.slow', schemaVersion: 1, payload: {} }],
      },
    ]);
    expect(slowOutcome).toMatchObject({ events: [{ position: 1n }] });

    let fastDone = false;
    const fast = new EventStore(db.pool)
      .append({
        streamId: 'fast',
        expectedVersion: 0,
        events: [{ type: 'test.fast', schemaVersion: 1, payload: {} }],
      })
      .then((result) => {
        fastDone = true;
        return result;
      });
    await new Promise((resolve) => setTimeout(resolve, 300));
    // The later append is held back by the uncommitted earlier one; the subscriber sees neither.
    expect(fastDone).toBe(false);
    await runner.catchUp('late-commit');
    expect(seen).toEqual([]);

    await slow.query('COMMIT');
    slow.release();
    await expect(fast).resolves.toMatchObject({ events: [{ position: 2n }] });
    await runner.catchUp('late-commit');
    expect(seen).toEqual([1n, 2n]);
  });

  it('given a projection that keeps failing, when running in the background, should report its failures and recover when the cause is fixed', async () => {
    await appendReadings(10);
    const flaky = new MeterTotals();
    flaky.failAtPosition = 3n;
    const runner = startedRunner({ pollMs: 10 });
    runner.register(flaky);
    runner.start();
    await waitFor(() => (runner.status()[0]?.failures ?? 0) >= 2);
    expect(runner.status()[0]).toMatchObject({
      name: 'meter-totals',
      failures: expect.any(Number) as number,
      lastError: 'crash while applying 3',
    });

    flaky.failAtPosition = undefined;
    await waitFor(() => runner.status()[0]?.position === 10n, 5_000);
    expect(runner.status()[0]).toMatchObject({ failures: 0, position: 10n });
    await runner.stop();
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error('condition not met in time');
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
