// npm run bench:api [-- --duration SECONDS] [-- --rate REQUESTS_PER_S] [-- --meters N]
//
// REST reads as a receiver organisation makes them (issue 7): one node process (one delegate, 2 s
// slots) and the control center, on a fresh database (cbsg_bench_api). The node seals at most 1,000
// transactions a block (MAX_BLOCK_TRANSACTIONS), so a burst of 2,000 reports fills a block with exactly
// 1,000; once it is final, GET /blocks/:height (the block with its transactions) is sent at a
// constant rate (default 200/s) with an organisation's token for --duration seconds (default 30).
// The load is open-loop: each request leaves at its scheduled time whatever the earlier ones are
// doing, and its latency counts from that time, so a slow answer cannot hide the queue behind it.
// Then, if the admin console is served (/console) and playwright-core is installed, the time its first
// page takes to load in headless Chromium.
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { issueIdentityToken } from '@app/auth';
import { initCrypto, type Report } from '@app/crypto';
import { enrolMeters, enrolStandardReceivers, type RunningService } from '@app/devnet';
import { FleetSimulator, STANDARD_DIMENSIONS, standardPolicies } from '@app/meter-sdk';

import { machineLine, parseFlags, percentile, printTable } from './lib/harness';
import { SINGLE_NODE_OWNERS, startSingleNode } from './lib/single-node';

const flags = parseFlags(process.argv.slice(2), 30);
const RATE = Number(flags.extra.rate ?? 200);
const METERS = Number(flags.extra.meters ?? 40);
const BLOCK_TRANSACTIONS = 1_000;
const WARM_UP_SECONDS = 3;
const PASSPHRASE = 'bench-api-passphrase';
const DB_URL = process.env.BENCH_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/cbsg_bench_api';
const NODE_PORT = 3921;
const CC_PORT = 3922;
const NODE_URL = `http://127.0.0.1:${NODE_PORT}`;
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const RECEIVERS = {
  controlCenter: 'cc-analytics',
  gridOperator: 'operator-billing',
  equipmentSupplier: 'supplier-maintenance',
};

interface LoadFigures {
  sent: number;
  ok: number;
  errors: number;
  seconds: number;
  latenciesMs: number[];
  bytes: number;
}

/**
 * GETs `url` at `rate` per second for `seconds`, open-loop. Connections are kept alive and opened as
 * needed (no cap), as many clients behind one organisation would.
 */
async function openLoopLoad(
  url: string,
  authorization: string,
  rate: number,
  seconds: number,
): Promise<LoadFigures> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  const total = Math.round(rate * seconds);
  const intervalMs = 1000 / rate;
  const figures: LoadFigures = { sent: 0, ok: 0, errors: 0, seconds, latenciesMs: [], bytes: 0 };
  const inFlight = new Set<Promise<void>>();
  const start = performance.now();
  const send = (scheduledAt: number) =>
    new Promise<void>((resolve) => {
      const request = http.get(url, { agent, headers: { authorization } }, (response) => {
        let bytes = 0;
        response.on('data', (chunk: Buffer) => (bytes += chunk.length));
        response.on('end', () => {
          figures.latenciesMs.push(performance.now() - scheduledAt);
          if (response.statusCode === 200) {
            figures.ok += 1;
            figures.bytes += bytes;
          } else {
            figures.errors += 1;
          }
          resolve();
        });
        response.on('error', () => {
          figures.errors += 1;
          resolve();
        });
      });
      request.on('error', () => {
        figures.errors += 1;
        resolve();
      });
    });
  while (figures.sent < total) {
    const now = performance.now();
    // Every request whose time has come leaves now, however many the timer was late for.
    while (figures.sent < total && start + figures.sent * intervalMs <= now) {
      const sent = send(start + figures.sent * intervalMs).finally(() => inFlight.delete(sent));
      inFlight.add(sent);
      figures.sent += 1;
    }
    const wake = start + figures.sent * intervalMs - performance.now();
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.min(wake, 50))));
  }
  await Promise.all(inFlight);
  figures.seconds = (performance.now() - start) / 1000;
  agent.destroy();
  return figures;
}

async function waitUntil<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`${what}: not within ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/**
 * Sends the reports in batches of 100 (4 at a time) and returns the height of a final block holding
 * exactly BLOCK_TRANSACTIONS of them.
 */
async function fillBlock(reports: Report[], authorization: string): Promise<string> {
  const batches: string[] = [];
  for (let i = 0; i < reports.length; i += 100) {
    batches.push(JSON.stringify({ reports: reports.slice(i, i + 100).map((r) => r.toJSON()) }));
  }
  let next = 0;
  const sender = async () => {
    while (next < batches.length) {
      const body = batches[next++]!;
      const response = await fetch(`${NODE_URL}/reports/batch`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      if (!response.ok) {
        throw new Error(`POST /reports/batch: ${response.status} ${await response.text()}`);
      }
    }
  };
  await Promise.all([sender(), sender(), sender(), sender()]);
  const ids = new Set(reports.map((r) => r.idHex));
  return waitUntil(
    `a final block with ${BLOCK_TRANSACTIONS} of the reports`,
    async () => {
      const page = (await (
        await fetch(`${NODE_URL}/blocks?limit=20`, { headers: { authorization } })
      ).json()) as { blocks: Array<{ height: string; transactionCount: number }> };
      for (const block of page.blocks.filter((b) => b.transactionCount === BLOCK_TRANSACTIONS)) {
        const detail = (await (
          await fetch(`${NODE_URL}/blocks/${block.height}`, { headers: { authorization } })
        ).json()) as { transactions: Array<{ hash: string }> };
        if (detail.transactions.every((t) => ids.has(t.hash))) {
          return block.height;
        }
      }
      return undefined;
    },
    60_000,
  );
}

/** The smallest part of playwright-core this benchmark drives (it is loaded only if installed). */
interface Chromium {
  launch(options: { executablePath: string; headless: boolean }): Promise<{
    newContext(): Promise<{
      newPage(): Promise<{ goto(url: string, options: { waitUntil: 'load' }): Promise<unknown> }>;
    }>;
    close(): Promise<void>;
  }>;
}

/** Milliseconds from navigation to the load event of /console in a fresh browser, or why it cannot be measured. */
async function consoleFirstLoad(): Promise<{ ms: number | null; note: string }> {
  let chromium: Chromium;
  try {
    // Resolved at run time: the console and its test tooling are added separately.
    const load = createRequire(__filename);
    chromium = (load('playwright-core') as { chromium: Chromium }).chromium;
  } catch {
    return { ms: null, note: 'playwright-core is not installed' };
  }
  const served = await fetch(`${NODE_URL}/console`).catch(() => undefined);
  if (!served?.ok) {
    return { ms: null, note: `the node does not serve /console (${served?.status ?? 'no answer'})` };
  }
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
  try {
    const page = await (await browser.newContext()).newPage();
    const started = performance.now();
    await page.goto(`${NODE_URL}/console`, { waitUntil: 'load' });
    return { ms: performance.now() - started, note: 'cold browser context, to the load event' };
  } finally {
    await browser.close();
  }
}

async function main(): Promise<void> {
  console.log(
    `bench:api on ${machineLine()}: GET /blocks/:height (${BLOCK_TRANSACTIONS} transactions) at ${RATE}/s for ${flags.durationSeconds} s`,
  );
  await initCrypto();
  const dir = await mkdtemp(path.join(tmpdir(), 'cbsg-bench-api-'));
  const services: RunningService[] = [];
  try {
    const { consortium, ctx, node } = await startSingleNode({
      name: 'api',
      dir,
      passphrase: PASSPHRASE,
      databaseUrl: DB_URL,
      nodePort: NODE_PORT,
      ccPort: CC_PORT,
      nodeEnv: {
        MAX_BLOCK_TRANSACTIONS: String(BLOCK_TRANSACTIONS),
        // One organisation makes every request here: the per-client limit (200/s by default) would
        // measure the throttler, not the reads.
        API_RATE_LIMIT: String(Math.max(1_000, RATE * 10)),
      },
      services,
    });
    const setupStarted = Date.now();
    await enrolStandardReceivers(ctx, RECEIVERS, SINGLE_NODE_OWNERS);
    const simulator = new FleetSimulator({ seed: 700, meters: METERS });
    const policies = standardPolicies(RECEIVERS);
    const fleet = await enrolMeters(
      ctx,
      simulator.meters.map((m, i) => ({
        meterId: m.meterId,
        registrar: 'grid-operator',
        dimensions: STANDARD_DIMENSIONS,
        policy: policies[i % policies.length]!,
        epoch: { maxReports: 96, maxAgeMs: 24 * 3_600_000 },
        owner: { name: `owner ${i}`, notifyUrl: 'https://phones.example/owner' },
      })),
      { concurrency: 20 },
    );
    // Twice a block's worth: however the burst falls across slots, one block takes a full 1,000.
    const now = Date.now();
    const reports: Report[] = [];
    for (let k = 0; reports.length < 2 * BLOCK_TRANSACTIONS; k += 1) {
      const meter = fleet[k % fleet.length]!;
      reports.push(meter.reporter.report(simulator.reading(meter.spec.meterId, now + k), now + k));
    }
    // The receiver organisation reading the chain; a token lives 15 minutes, longer than any run here.
    const authorization = `Bearer ${issueIdentityToken(
      consortium.organisationKeys.get('grid-operator')!,
      consortium.genesis.chainId,
      { kind: 'organisation', id: 'grid-operator' },
    )}`;
    const height = await fillBlock(reports, authorization);
    console.log(
      `set up in ${((Date.now() - setupStarted) / 1000).toFixed(0)} s: ${METERS} meters, block ${height} final with ${BLOCK_TRANSACTIONS} reports`,
    );

    const url = `${NODE_URL}/blocks/${height}`;
    await openLoopLoad(url, authorization, RATE, WARM_UP_SECONDS);
    const load = await openLoopLoad(url, authorization, RATE, flags.durationSeconds);
    if (!node.running) {
      throw new Error(
        `the node exited during the load (code ${await node.whenExited()}); log: ${node.logFile}`,
      );
    }
    const consoleLoad = await consoleFirstLoad();

    const latencies = load.latenciesMs;
    printTable(`GET /blocks/${height}, open-loop at ${RATE}/s for ${flags.durationSeconds} s`, [
      {
        sent: load.sent,
        'p50 ms': percentile(latencies, 50),
        'p95 ms': percentile(latencies, 95),
        'p99 ms': percentile(latencies, 99),
        'max ms': Math.max(...latencies),
        errors: load.errors,
        'achieved/s': load.ok / load.seconds,
        'KiB/answer': load.ok > 0 ? load.bytes / load.ok / 1024 : NaN,
      },
    ]);
    printTable('Admin console', [
      {
        figure: 'first page load (ms)',
        measured: consoleLoad.ms === null ? 'null' : Math.round(consoleLoad.ms),
        note: consoleLoad.note,
      },
    ]);
    console.log(
      `\nwarm-up: ${WARM_UP_SECONDS} s at the same rate before the measured run. Targets (issue 7): p99 < 100 ms at 200/s; console first load < 2 s.`,
    );
    // The summary line (last): printSummary takes numbers only, and the console figure may be null.
    console.log(
      JSON.stringify({
        block_read_p99_ms: Math.round(percentile(latencies, 99) * 10) / 10,
        console_first_load_ms: consoleLoad.ms === null ? null : Math.round(consoleLoad.ms),
        block_read_p50_ms: Math.round(percentile(latencies, 50) * 10) / 10,
        block_read_max_ms: Math.round(Math.max(...latencies) * 10) / 10,
        block_read_errors: load.errors,
        block_read_achieved_per_s: Math.round((load.ok / load.seconds) * 10) / 10,
      }),
    );
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
