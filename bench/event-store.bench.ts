// npm run bench:event-store [-- --duration SECONDS]
// Appends to a fresh database on the local Postgres (BENCH_DATABASE_URL, default
// postgresql://postgres@127.0.0.1:5432/cbsg_bench_event_store), which it drops and recreates.
import { Client, Pool } from 'pg';

import { EventStore } from '@app/event-store';
import { ConcurrencyError } from '@app/kernel';
import { migrate, migrationsDir } from '@app/persistence';

import { machineLine, median, parseFlags, percentile, printSummary, printTable } from './lib/harness';

const flags = parseFlags(process.argv.slice(2), 10);
const url = process.env.BENCH_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/cbsg_bench_event_store';
const CLIENTS = 16;
const BATCH = 1_000;

async function freshDatabase(): Promise<void> {
  const target = new URL(url);
  const name = target.pathname.slice(1);
  target.pathname = '/postgres';
  const admin = new Client({ connectionString: target.toString() });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  await migrate(url, migrationsDir());
}

function meterReading(i: number) {
  return {
    type: 'bench.reading-recorded',
    schemaVersion: 1,
    payload: { meter: `meter-${i}`, kwh: 1.25 + (i % 100) / 7, voltage: [229.8, 230.1, 231.0], status: 'ok' },
    metadata: { correlationId: `bench-${i}`, actor: 'bench' },
  };
}

/** 16 clients, each issuing single-event commands (own stream, expected version) back to back. */
async function concurrentSingles(stores: EventStore[], seconds: number) {
  const latencies: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  let appended = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, client) => {
      const store = stores[client % stores.length]!;
      let version = 0;
      const streamId = `client-${client}-${Math.random().toString(36).slice(2)}`;
      while (performance.now() < deadline) {
        const t0 = performance.now();
        const result = await store.append({
          streamId,
          expectedVersion: version,
          events: [meterReading(appended)],
        });
        latencies.push(performance.now() - t0);
        version = result.version;
        appended += 1;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  return { perSecond: appended / elapsed, appended, p50: median(latencies), p99: percentile(latencies, 99) };
}

/**
 * Batches of 1,000 events, one new stream each (the shape of report intake), from `producers`
 * callers each waiting for its batch before sending the next. With two, one batch is encoded and
 * hashed in JavaScript while the other is in Postgres, as when a node serves concurrent requests.
 */
async function batched(store: EventStore, seconds: number, producers: number) {
  const phase = `p${producers}-${Date.now()}`;
  const deadline = performance.now() + seconds * 1000;
  const batchTimes: number[] = [];
  let appended = 0;
  let round = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: producers }, async () => {
      while (performance.now() < deadline) {
        const mine = round;
        round += 1;
        const t0 = performance.now();
        const outcomes = await store.appendMany(
          Array.from({ length: BATCH }, (_, i) => ({
            streamId: `batch-${phase}-${mine}-${i}`,
            expectedVersion: 0,
            events: [meterReading(i)],
          })),
        );
        batchTimes.push(performance.now() - t0);
        const refused = outcomes.filter((o) => o instanceof ConcurrencyError).length;
        if (refused > 0) {
          throw new Error(
            `${refused} appends of a batch were refused: the benchmark would count nothing real`,
          );
        }
        appended += BATCH;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  return {
    perSecond: appended / elapsed,
    appended,
    p50: median(batchTimes),
    p99: percentile(batchTimes, 99),
  };
}

async function main(): Promise<void> {
  console.log(`bench:event-store on ${machineLine()}, ${flags.durationSeconds} s per phase`);
  await freshDatabase();
  const pool = new Pool({ connectionString: url, max: CLIENTS + 2 });
  const shared = new EventStore(pool);
  const separate = Array.from({ length: CLIENTS }, () => new EventStore(pool));

  const single = await concurrentSingles([shared], flags.durationSeconds);
  const unbatched = await concurrentSingles(separate, flags.durationSeconds);
  const batchOne = await batched(shared, flags.durationSeconds, 1);
  const batch = await batched(shared, flags.durationSeconds, 2);
  const verifyStarted = performance.now();
  const report = await shared.verify();
  const verifySeconds = (performance.now() - verifyStarted) / 1000;
  await pool.end();

  printTable('Appends', [
    {
      phase: `${CLIENTS} clients, single-event commands, one process (group commit)`,
      'events/s': Math.round(single.perSecond),
      'p50 ms': single.p50,
      'p99 ms': single.p99,
    },
    {
      phase: `${CLIENTS} clients, single-event commands, one connection each (no grouping)`,
      'events/s': Math.round(unbatched.perSecond),
      'p50 ms': unbatched.p50,
      'p99 ms': unbatched.p99,
    },
    {
      phase: `batches of ${BATCH.toLocaleString('en-US')} events, 1 producer`,
      'events/s': Math.round(batchOne.perSecond),
      'p50 ms': batchOne.p50,
      'p99 ms': batchOne.p99,
    },
    {
      phase: `batches of ${BATCH.toLocaleString('en-US')} events, 2 producers`,
      'events/s': Math.round(batch.perSecond),
      'p50 ms': batch.p50,
      'p99 ms': batch.p99,
    },
    {
      phase: `verify the whole journal (${report.checked.toLocaleString('en-US')} events, ${report.ok ? 'intact' : 'BROKEN'})`,
      'events/s': Math.round(report.checked / verifySeconds),
      'p50 ms': NaN,
      'p99 ms': NaN,
    },
  ]);
  console.log(
    '\nTargets (issue 2): 3,000 events/s from 16 concurrent clients; 30,000 events/s in batches of 1,000.',
  );
  printSummary({
    concurrent_appends_per_s: Math.round(single.perSecond),
    concurrent_appends_unbatched_per_s: Math.round(unbatched.perSecond),
    batched_appends_per_s: Math.round(batchOne.perSecond),
    batched_appends_two_producers_per_s: Math.round(batch.perSecond),
    verify_events_per_s: Math.round(report.checked / verifySeconds),
  });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
