// npm run bench:intake [-- --duration SECONDS] [-- --rate REPORTS_PER_S] [-- --meters N] [-- --connections N]
//
// Starts a real accounting node and control center as separate processes on a fresh database
// (cbsg_bench_intake), enrols meters over the public APIs, pre-computes signcrypted reports
// (v = 10 dimensions, m = 3 receivers), then measures with autocannon:
//   1. sustained single-report intake at a fixed rate (default 1,000 reports/s): achieved rate, p99;
//   2. batch intake (POST /reports/batch, 100 reports per request), as fast as it goes.
// Every report is checked in full by the node (structure, window, meter, receivers, replay, weighted
// batch verification in its worker pool) and durable before its receipt. Where the node's time goes
// is read from its own Prometheus metrics.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import autocannon from 'autocannon';

import { initCrypto, type Report } from '@app/crypto';
import { enrolMeters, enrolStandardReceivers, type RunningService } from '@app/devnet';

import { machineLine, parseFlags, printSummary, printTable } from './lib/harness';
import { SINGLE_NODE_OWNERS, startSingleNode } from './lib/single-node';

const flags = parseFlags(process.argv.slice(2), 20);
const RATE = Number(flags.extra.rate ?? 1_000);
const METERS = Number(flags.extra.meters ?? 200);
// Concurrent single-report clients. At the target rate a receipt must come back within 64 ms on
// average for 64 connections to keep up (Little's law); more connections show the node's own limit.
const CONNECTIONS = Number(flags.extra.connections ?? 64);
const BATCH_SIZE = 100;
const PASSPHRASE = 'bench-intake-passphrase';
const DB_URL = process.env.BENCH_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/cbsg_bench_intake';
const DIMENSIONS = [
  'consumption_kwh',
  'voltage_a',
  'voltage_b',
  'voltage_c',
  'current_a',
  'current_b',
  'current_c',
  'temperature_c',
  'humidity_pct',
  'device_status',
];
const RECEIVERS = {
  controlCenter: 'cc-analytics',
  gridOperator: 'operator-billing',
  equipmentSupplier: 'supplier-maintenance',
};
const POLICY = [
  {
    receiver: RECEIVERS.controlCenter,
    dimensions: [
      'consumption_kwh',
      'voltage_a',
      'voltage_b',
      'voltage_c',
      'current_a',
      'current_b',
      'current_c',
    ],
  },
  { receiver: RECEIVERS.gridOperator, dimensions: ['consumption_kwh'] },
  {
    receiver: RECEIVERS.equipmentSupplier,
    dimensions: ['device_status', 'temperature_c', 'humidity_pct', 'voltage_a'],
  },
];

function reading(i: number, t: number) {
  const hour = new Date(t).getUTCHours();
  return {
    consumption_kwh: 0.2 + 0.15 * Math.sin((hour / 24) * 2 * Math.PI) + (i % 10) / 100,
    voltage_a: 229 + (i % 5) * 0.3,
    voltage_b: 230.4,
    voltage_c: 231.1,
    current_a: 3.2 + (i % 7) / 10,
    current_b: 3.1,
    current_c: 3.4,
    temperature_c: 18 + (i % 9),
    humidity_pct: 40 + (i % 20),
    device_status: 'normal',
  };
}

async function scrape(nodeUrl: string): Promise<Map<string, number>> {
  let text: string;
  try {
    text = await (await fetch(`${nodeUrl}/metrics`)).text();
  } catch {
    // A kept-alive connection the server closed meanwhile: once more on a new one.
    text = await (await fetch(`${nodeUrl}/metrics`)).text();
  }
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+(?:\{[^}]*\})?) ([0-9.e+-]+)$/.exec(line);
    if (m) {
      values.set(m[1]!, Number(m[2]));
    }
  }
  return values;
}

function stageBreakdown(before: Map<string, number>, after: Map<string, number>) {
  const delta = (key: string) => (after.get(key) ?? 0) - (before.get(key) ?? 0);
  return ['checks', 'verify', 'write'].map((stage) => {
    const sum = delta(`cbsg_intake_stage_seconds_sum{stage="${stage}"}`);
    const count = delta(`cbsg_intake_stage_seconds_count{stage="${stage}"}`);
    return { stage, count, 'total s': sum, 'mean ms': count > 0 ? (sum / count) * 1000 : NaN };
  });
}

/** How many answers of each status a phase got (a 429 is back-pressure, not a refusal). */
function statusLine(result: autocannon.Result): string {
  const stats = result.statusCodeStats as Partial<Record<string, { count: number }>>;
  const counts = Object.entries(stats).map(([status, s]) => `${status}: ${s?.count ?? 0}`);
  return counts.length ? counts.join(', ') : 'none';
}

async function main(): Promise<void> {
  console.log(
    `bench:intake on ${machineLine()}: ${flags.durationSeconds} s per phase, target ${RATE} reports/s, ${METERS} meters`,
  );
  await initCrypto();
  const dir = await mkdtemp(path.join(tmpdir(), 'cbsg-bench-intake-'));
  const services: RunningService[] = [];
  try {
    const { ctx, node } = await startSingleNode({
      name: 'intake',
      dir,
      passphrase: PASSPHRASE,
      databaseUrl: DB_URL,
      nodePort: 3901,
      ccPort: 3902,
      nodeEnv: { MEMPOOL_MAX_REPORTS: '10000000' },
      services,
    });
    await enrolStandardReceivers(ctx, RECEIVERS, SINGLE_NODE_OWNERS);
    const fleet = await enrolMeters(
      ctx,
      Array.from({ length: METERS }, (_, i) => ({
        meterId: `meter-${String(i).padStart(5, '0')}`,
        registrar: 'grid-operator',
        dimensions: DIMENSIONS,
        policy: POLICY,
        epoch: { maxReports: 96, maxAgeMs: 24 * 3_600_000 },
        owner: { name: `owner ${i}`, notifyUrl: 'https://phones.example/owner' },
      })),
    );

    // Pre-compute the reports (the meters' work, not the node's): enough for both phases.
    const singleCount = Math.ceil(RATE * flags.durationSeconds * 1.05);
    const batchCount = Math.ceil(3_000 * flags.durationSeconds);
    const started = Date.now();
    const reports: Report[] = [];
    for (let k = 0; reports.length < singleCount + batchCount; k += 1) {
      for (const [i, meter] of fleet.entries()) {
        reports.push(meter.reporter.report(reading(i + k, started), started + k));
      }
    }
    console.log(
      `enrolled ${METERS} meters and signcrypted ${reports.length.toLocaleString('en-US')} reports in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    const singles = reports.slice(0, singleCount).map((r) => JSON.stringify(r.toJSON()));
    const batchReports = reports.slice(singleCount);
    const batches: string[] = [];
    for (let i = 0; i + BATCH_SIZE <= batchReports.length; i += BATCH_SIZE) {
      batches.push(JSON.stringify({ reports: batchReports.slice(i, i + BATCH_SIZE).map((r) => r.toJSON()) }));
    }

    // 1. Sustained single reports at the target rate.
    const before = await scrape(ctx.nodeUrl);
    let next = 0;
    const single = await autocannon({
      url: `${ctx.nodeUrl}/reports`,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      connections: CONNECTIONS,
      overallRate: RATE,
      duration: flags.durationSeconds,
      requests: [
        {
          setupRequest: (request) => ({ ...request, body: singles[next++ % singles.length] }),
        },
      ],
    });
    if (!node.running) {
      throw new Error(
        `the node exited during the single-report phase (code ${await node.whenExited()}); log: ${node.logFile}`,
      );
    }
    const afterSingle = await scrape(ctx.nodeUrl);
    const singleAccepted =
      (afterSingle.get('cbsg_reports_accepted_total') ?? 0) -
      (before.get('cbsg_reports_accepted_total') ?? 0);
    const singleRate = singleAccepted / flags.durationSeconds;

    // 2. Batches, as fast as the node takes them.
    let nextBatch = 0;
    const batch = await autocannon({
      url: `${ctx.nodeUrl}/reports/batch`,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      connections: 8,
      amount: batches.length,
      duration: flags.durationSeconds,
      requests: [
        { setupRequest: (request) => ({ ...request, body: batches[nextBatch++ % batches.length] }) },
      ],
    });
    const afterBatch = await scrape(ctx.nodeUrl);
    const batchAccepted =
      (afterBatch.get('cbsg_reports_accepted_total') ?? 0) -
      (afterSingle.get('cbsg_reports_accepted_total') ?? 0);
    const batchSeconds = batch.duration;
    const batchRate = batchAccepted / batchSeconds;
    const rejected = [...afterBatch.entries()]
      .filter(([k]) => k.startsWith('cbsg_reports_rejected_total'))
      .map(([k, v]) => `${k}=${v}`);

    printTable('Intake (every check done, every report durable before its receipt)', [
      {
        phase: `single reports at ${RATE}/s (${CONNECTIONS} connections)`,
        'reports/s': Math.round(singleRate),
        'p50 ms': single.latency.p50,
        'p99 ms': single.latency.p99,
        'max ms': single.latency.max,
        'non-2xx': single.non2xx,
        errors: single.errors + single.timeouts,
      },
      {
        phase: `batches of ${BATCH_SIZE} (8 connections)`,
        'reports/s': Math.round(batchRate),
        'p50 ms': batch.latency.p50,
        'p99 ms': batch.latency.p99,
        'max ms': batch.latency.max,
        'non-2xx': batch.non2xx,
        errors: batch.errors + batch.timeouts,
      },
    ]);
    printTable('Where the node spends its time (from its /metrics)', stageBreakdown(before, afterBatch));
    const delta = (from: Map<string, number>, to: Map<string, number>, key: string) =>
      (to.get(key) ?? 0) - (from.get(key) ?? 0);
    const meanOf = (sum: number, count: number) => (sum / Math.max(1, count)).toFixed(1);
    const intakeBatches = delta(before, afterBatch, 'cbsg_verification_batch_size_count');
    console.log(
      `\nintake verification batches: ${intakeBatches}, mean ${meanOf(delta(before, afterBatch, 'cbsg_verification_batch_size_sum'), intakeBatches)} reports each`,
    );
    // Batches queued together in the worker pool run as one check (one multi-pairing each).
    const checks = (from: Map<string, number>, to: Map<string, number>) => {
      const count = delta(from, to, 'cbsg_crypto_batch_checks_total');
      return `${count}, mean ${meanOf(delta(from, to, 'cbsg_crypto_batch_checked_reports_total'), count)} reports`;
    };
    console.log(
      `batch checks in the worker pool: single phase ${checks(before, afterSingle)}; batch phase ${checks(afterSingle, afterBatch)}`,
    );
    console.log(`refusals: ${rejected.length ? rejected.join(', ') : 'none'}`);
    console.log(`HTTP statuses: single ${statusLine(single)}; batches ${statusLine(batch)}`);
    console.log(
      'Targets (issue 4): sustained >= 1,000 reports/s with p99 < 500 ms; batches >= 1,300 reports/s.',
    );
    printSummary({
      sustained_reports_per_s: Math.round(singleRate),
      receipt_p99_ms: single.latency.p99,
      batch_reports_per_s: Math.round(batchRate),
      sustained_non2xx: single.non2xx,
    });
  } finally {
    for (const service of services.reverse()) {
      await service.stop();
    }
    if (!process.env.BENCH_KEEP) {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
