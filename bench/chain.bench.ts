// npm run bench:chain [-- --duration SECONDS] [-- --rate REPORTS_PER_S] [-- --meters N]
//                     [-- --duration-101 SECONDS]
//
// The chain under load, as issue 5 measures it: three node processes on this machine, each with its
// own database, 2 s slots, delegates spread over the three. Reports are signcrypted beforehand (the
// meters' work), then sent in batches of 50 to the three nodes in turn at a fixed rate; every node
// verifies every report (intake, gossip or block), seals, votes and finalizes.
//   1. 21 delegates for --duration seconds (default 300): final reports/s, time from receipt to final
//      (in slots, median and p99) next to the classic 2/3-of-producers rule, missed slots under load;
//   2. 101 delegates for --duration-101 seconds (default 90): the same finality figures;
//   3. verify-chain (`cbsg verify-chain`, every check, worker pool) over phase 1's chain. The issue's
//      figure over 1,000,000 reports has its own benchmark: npm run bench:verify-chain.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { Client } from 'pg';

import { CONSORTIUM_FILES, createConsortium, writeConsortium } from '@app/control-center';
import { initCrypto, type Report, SystemParams } from '@app/crypto';
import {
  enrolMeters,
  enrolStandardReceivers,
  type EnrolmentContext,
  NodeNetwork,
  type RunningService,
  spreadDelegates,
  startService,
} from '@app/devnet';
import { slotStart, type Timing } from '@app/ledger';
import { FleetSimulator } from '@app/meter-sdk';

import {
  CONSORTIUM_ORGANISATIONS,
  CONSORTIUM_RECEIVER_OWNERS,
  CONSORTIUM_RECEIVERS,
  fleetSpecs,
} from './lib/consortium';
import { machineLine, median, parseFlags, percentile, printSummary, printTable } from './lib/harness';
import { runVerifyChain } from './lib/verify-chain';

const flags = parseFlags(process.argv.slice(2), 300);
const RATE = Number(flags.extra.rate ?? 450);
const METERS = Number(flags.extra.meters ?? 300);
const DURATION_101 = Number(flags.extra['duration-101'] ?? 90);
const SLOT_MS = 2_000;
const BATCH = 50;
const TICK_MS = 250;
const PASSPHRASE = 'bench-chain-passphrase';
const PG = process.env.BENCH_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const NODES = ['node-1', 'node-2', 'node-3'];
const RECEIVERS = CONSORTIUM_RECEIVERS;

function databaseUrl(phase: string, node: string): string {
  const url = new URL(PG);
  url.pathname = `/cbsg_bench_chain_${phase}_${node.replace(/-/g, '_')}`;
  return url.toString();
}

async function sql<T extends object>(url: string, text: string, values: unknown[] = []): Promise<T[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

interface Network {
  dir: string;
  timing: Timing;
  network: NodeNetwork;
  cc: RunningService;
  ctx: EnrolmentContext;
  urls: string[];
  databases: string[];
  genesisFile: string;
}

async function startNetwork(phase: string, delegates: number): Promise<Network> {
  const dir = await mkdtemp(path.join(tmpdir(), `cbsg-bench-chain-${phase}-`));
  const ids = Array.from({ length: delegates }, (_, i) => `delegate-${String(i + 1).padStart(3, '0')}`);
  const consortium = await createConsortium({
    chainId: `cbsg-bench-chain-${phase}`,
    organisations: CONSORTIUM_ORGANISATIONS,
    delegates: ids.map((id, i) => ({ id, organisation: CONSORTIUM_ORGANISATIONS[i % 2]!.id })),
    nodes: NODES.map((id) => ({ id, organisation: 'control-center' })),
    producers: delegates,
    slotMs: SLOT_MS,
  });
  await writeConsortium(consortium, dir, PASSPHRASE, { scrypt: { N: 2 ** 14, r: 8, p: 1 } });
  const databases = NODES.map((n) => databaseUrl(phase, n));
  const network = NodeNetwork.create({
    consortiumDir: dir,
    passphrase: PASSPHRASE,
    nodes: NODES.map((id, i) => ({
      id,
      databaseUrl: databases[i]!,
      port: 3911 + i,
      delegates: spreadDelegates(ids, NODES.length, i),
    })),
    redisUrl: REDIS_URL,
    logDir: dir,
    queuePrefix: `bench-chain-${phase}-${process.pid}`,
    freshDatabases: true,
    logLevel: process.env.BENCH_LOG_LEVEL ?? 'warn',
    env: { CRYPTO_WORKERS: '1', MEMPOOL_MAX_REPORTS: '1000000', DATABASE_POOL_SIZE: '12' },
    // BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the nodes (and their workers).
    nodeArgs: process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean),
  });
  stopOnExit.push(() => network.killNow());
  await network.start();
  const genesisFile = path.join(dir, CONSORTIUM_FILES.genesis);
  const cc = await startService({
    name: 'control-center',
    entry: 'apps/control-center/src/main.ts',
    env: {
      NODE_URL: network.nodes[0]!.url,
      GENESIS_FILE: genesisFile,
      CC_KEYS_DIR: dir,
      CC_PASSPHRASE: PASSPHRASE,
      HTTP_PORT: '3919',
      LOG_LEVEL: 'warn',
    },
    readyUrl: 'http://127.0.0.1:3919/openapi.json',
    logDir: dir,
  });
  stopOnExit.push(() => cc.child.kill('SIGKILL'));
  return {
    dir,
    timing: { genesisTime: consortium.genesis.createdAt, slotMs: SLOT_MS, producers: delegates },
    network,
    cc,
    ctx: {
      nodeUrl: network.nodes[0]!.url,
      ccUrl: 'http://127.0.0.1:3919',
      chainId: consortium.genesis.chainId,
      params: SystemParams.fromJSON(consortium.genesis.systemParams),
      organisationKeys: consortium.organisationKeys,
    },
    urls: network.nodes.map((n) => n.url),
    databases,
    genesisFile,
  };
}

const stopOnExit: Array<() => void> = [];
process.on('exit', () => stopOnExit.forEach((stop) => stop()));
process.on('SIGINT', () => process.exit(130));

async function stopNetwork(net: Network): Promise<void> {
  await net.cc.stop();
  await net.network.stop();
  if (!process.env.BENCH_KEEP) {
    await rm(net.dir, { recursive: true, force: true });
  }
}

/** Receivers and meters, then the reports of `seconds` at RATE, signcrypted before the clock starts. */
async function prepareLoad(net: Network, seconds: number): Promise<string[][]> {
  const { ctx } = net;
  await enrolStandardReceivers(ctx, RECEIVERS, CONSORTIUM_RECEIVER_OWNERS);
  const simulator = new FleetSimulator({ seed: 400, meters: METERS });
  const fleet = await enrolMeters(ctx, fleetSpecs(simulator, 'https://phones.example/owner'), {
    concurrency: 16,
  });
  // Each node must know every meter before it takes their reports.
  for (const url of net.urls) {
    await waitUntil(async () => (await fetch(`${url}/meters/${fleet.at(-1)!.spec.meterId}`)).ok, 120_000);
  }
  const total = Math.ceil(RATE * seconds);
  const started = Date.now();
  const batches: string[][] = [];
  let current: Report[] = [];
  for (let k = 0; k < total; k += 1) {
    const meter = fleet[k % fleet.length]!;
    const at = started + Math.floor((k / RATE) * 1000);
    current.push(meter.reporter.report(simulator.reading(meter.spec.meterId, at), at));
    if (current.length === BATCH || k === total - 1) {
      batches.push(current.map((r) => JSON.stringify(r.toJSON())));
      current = [];
    }
  }
  console.log(
    `  ${METERS} meters enrolled; ${total.toLocaleString('en-US')} reports signcrypted in ${((Date.now() - started) / 1000).toFixed(0)} s`,
  );
  return batches;
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

interface Receipt {
  node: number;
  at: number;
}

/** Sends the batches at RATE, to the nodes in turn; a report's receipt time is its answer's arrival. */
async function runLoad(
  net: Network,
  batches: string[][],
): Promise<{ receipts: Map<string, Receipt>; start: number; end: number; refused: number }> {
  const receipts = new Map<string, Receipt>();
  const perTick = (RATE * TICK_MS) / 1000;
  let refused = 0;
  // Why reports got no receipt (an error code, an HTTP status, a network error), printed after the load.
  const refusedBy = new Map<string, number>();
  // For requests without an answer: when and where the first few broke, to look up in the node's log.
  const brokenAt = new Map<string, string[]>();
  const refuse = (reason: string, count: number, where?: string) => {
    refused += count;
    refusedBy.set(reason, (refusedBy.get(reason) ?? 0) + count);
    const places = brokenAt.get(reason) ?? [];
    if (where && places.length < 5) {
      brokenAt.set(reason, [...places, where]);
    }
  };
  let due = 0;
  let next = 0;
  const inFlight = new Set<Promise<void>>();
  const start = Date.now();
  while (next < batches.length) {
    due += perTick;
    while (due >= BATCH && next < batches.length) {
      due -= BATCH;
      const node = next % net.urls.length;
      const batch = batches[next++]!;
      const sentAt = Date.now();
      const sent = fetch(`${net.urls[node]}/reports/batch`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: `{"reports":[${batch.join(',')}]}`,
      })
        .then(async (response) => {
          const body = (await response.json()) as {
            results?: Array<{ reportId?: string; error?: { code?: string } }>;
          };
          const at = Date.now();
          for (const result of body.results ?? []) {
            if (result.reportId) {
              receipts.set(result.reportId, { node, at });
            } else {
              refuse(result.error?.code ?? 'no code', 1);
            }
          }
          if (!body.results) {
            refuse(`HTTP ${response.status}`, batch.length);
          }
        })
        .catch((error: unknown) => {
          // fetch says only "fetch failed"; the cause says how the connection broke, and where and
          // when, whether that lines up with something in the node's log.
          const cause = (error as { cause?: { code?: string; message?: string } }).cause;
          const why = cause?.code ?? cause?.message;
          const where = `node-${node + 1} at ${((sentAt - start) / 1000).toFixed(1)} s, after ${Date.now() - sentAt} ms`;
          refuse(`no answer (${(error as Error).message}${why ? `: ${why}` : ''})`, batch.length, where);
        })
        .finally(() => inFlight.delete(sent));
      inFlight.add(sent);
    }
    const wake = start + Math.round(((next * BATCH) / RATE) * 1000);
    await new Promise((resolve) => setTimeout(resolve, Math.max(1, Math.min(TICK_MS, wake - Date.now()))));
  }
  await Promise.all(inFlight);
  if (refusedBy.size > 0) {
    console.log(`  without receipts: ${[...refusedBy].map(([reason, n]) => `${n} (${reason})`).join(', ')}`);
    for (const [reason, places] of brokenAt) {
      console.log(`  ${reason}: ${places.join('; ')}`);
    }
  }
  return { receipts, start, end: Date.now(), refused };
}

interface PhaseFigures {
  delegates: number;
  offered: number;
  accepted: number;
  refused: number;
  finalPerS: number;
  notFinal: number;
  medianSlots: number;
  p99Slots: number;
  classicMedianSlots: number;
  classicP99Slots: number;
  missedUnderLoad: number;
  slotsUnderLoad: number;
  /** Report signature checks per accepted report, per node (1 when no report is checked twice). */
  checksPerReport: number[];
  /** Receipt to final by when the receipt came, in tenths of the load: where a drift or a stall sits. */
  overTime: Array<{ from: number; to: number; reports: number; medianSlots: number; p99Slots: number }>;
}

/** The node's count of report signatures it checked (its metrics), by purpose. */
async function signatureChecks(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let total = 0;
  for (const m of text.matchAll(
    /^cbsg_report_signatures_checked_total\{purpose="(intake|block)"\} (\d+)/gm,
  )) {
    total += Number(m[2]);
  }
  return total;
}

async function measure(
  net: Network,
  load: Awaited<ReturnType<typeof runLoad>>,
  delegates: number,
): Promise<PhaseFigures> {
  // Everything received is final on every node within a few slots of the end.
  const ids = [...load.receipts.keys()];
  const finalOn = async (db: string) =>
    Number(
      (
        await sql<{ n: string }>(
          db,
          `SELECT count(*) AS n FROM block_transactions WHERE kind = 'report' AND hash = ANY($1::bytea[])`,
          [ids.map((id) => Buffer.from(id, 'hex'))],
        )
      )[0]!.n,
    );
  await waitUntil(
    async () => (await Promise.all(net.databases.map(finalOn))).every((n) => n === ids.length),
    60_000,
  ).catch(() => undefined);
  const counts = await Promise.all(net.databases.map(finalOn));
  const checks = await Promise.all(net.urls.map(signatureChecks));
  // Receipt to final on the node that gave the receipt.
  const delays: number[] = [];
  const receiptTimes: number[] = [];
  const classic: number[] = [];
  const threshold = Math.floor((2 * delegates) / 3) + 1;
  let finalInWindow = 0;
  for (const [node, db] of net.databases.entries()) {
    const mine = ids.filter((id) => load.receipts.get(id)!.node === node);
    const rows = await sql<{ hash: Buffer; finalized_at: Date; slot: string }>(
      db,
      `SELECT t.hash, b.finalized_at, b.slot FROM block_transactions t JOIN blocks b ON b.height = t.height
       WHERE t.kind = 'report' AND t.hash = ANY($1::bytea[])`,
      [mine.map((id) => Buffer.from(id, 'hex'))],
    );
    for (const row of rows) {
      const receipt = load.receipts.get(row.hash.toString('hex'))!;
      const finalAt = row.finalized_at.getTime();
      delays.push((finalAt - receipt.at) / SLOT_MS);
      receiptTimes.push(receipt.at);
      if (finalAt <= load.end) {
        finalInWindow += 1;
      }
      // Classic DPoS, at best (every slot produced): irreversible once blocks of more than 2/3 of the
      // producers follow, i.e. at the end of the slot `threshold` slots after the block's own.
      const classicAt = slotStart(net.timing, BigInt(row.slot) + BigInt(threshold) + 1n);
      classic.push((classicAt - receipt.at) / SLOT_MS);
    }
  }
  const first = BigInt(Math.floor((load.start - net.timing.genesisTime) / SLOT_MS));
  const last = BigInt(Math.floor((load.end - net.timing.genesisTime) / SLOT_MS));
  const missed = await sql<{ n: string }>(
    net.databases[0]!,
    'SELECT count(*) AS n FROM missed_slots WHERE slot BETWEEN $1 AND $2',
    [first.toString(), last.toString()],
  );
  return {
    delegates,
    offered: load.receipts.size + load.refused,
    accepted: load.receipts.size,
    refused: load.refused,
    finalPerS: finalInWindow / ((load.end - load.start) / 1000),
    notFinal: ids.length - Math.min(...counts),
    medianSlots: median(delays),
    p99Slots: percentile(delays, 99),
    classicMedianSlots: median(classic),
    classicP99Slots: percentile(classic, 99),
    missedUnderLoad: Number(missed[0]!.n),
    slotsUnderLoad: Number(last - first + 1n),
    checksPerReport: checks.map((c) => Math.round((c / Math.max(1, ids.length)) * 100) / 100),
    overTime: finalityOverTime(load.start, load.end, receiptTimes, delays),
  };
}

function finalityOverTime(
  start: number,
  end: number,
  receiptTimes: readonly number[],
  delays: readonly number[],
): PhaseFigures['overTime'] {
  const windowMs = Math.max(10_000, Math.ceil((end - start) / 10));
  const windows: number[][] = [];
  receiptTimes.forEach((at, i) => {
    const w = Math.max(0, Math.floor((at - start) / windowMs));
    (windows[w] ??= []).push(delays[i]!);
  });
  return windows.flatMap((inWindow, w) =>
    inWindow
      ? [
          {
            from: (w * windowMs) / 1000,
            to: ((w + 1) * windowMs) / 1000,
            reports: inWindow.length,
            medianSlots: median(inWindow),
            p99Slots: percentile(inWindow, 99),
          },
        ]
      : [],
  );
}

async function phase(
  name: string,
  delegates: number,
  seconds: number,
): Promise<{ figures: PhaseFigures; net: Network }> {
  console.log(
    `\nphase ${name}: ${delegates} delegates on 3 nodes, ${SLOT_MS / 1000} s slots, ${RATE} reports/s for ${seconds} s`,
  );
  const net = await startNetwork(name, delegates);
  const batches = await prepareLoad(net, seconds);
  // Signcrypting a long run's reports holds this process's event loop past the nodes' 65 s keep-alive:
  // they close the idle connections meanwhile, and until the loop turns this side does not know, so
  // the first requests went out on closed sockets (UND_ERR_SOCKET, 100 reports in each 5-minute run).
  await new Promise((resolve) => setTimeout(resolve, 100));
  const load = await runLoad(net, batches);
  const figures = await measure(net, load, delegates);
  return { figures, net };
}

async function main(): Promise<void> {
  console.log(`bench:chain on ${machineLine()}`);
  await initCrypto();
  const main21 = await phase('d21', 21, flags.durationSeconds);
  await main21.net.network.stop();
  await main21.net.cc.stop();
  const big = await phase('d101', 101, DURATION_101);
  await stopNetwork(big.net);

  const verify = await runVerifyChain(main21.net.databases[0]!, main21.net.genesisFile);
  if (!process.env.BENCH_KEEP) {
    await rm(main21.net.dir, { recursive: true, force: true });
  }

  const rows = [main21.figures, big.figures];
  printTable(
    'The chain under load (3 node processes, every node verifies every report)',
    rows.map((f) => ({
      delegates: f.delegates,
      'offered/s': Math.round(f.offered / (f.delegates === 21 ? flags.durationSeconds : DURATION_101)),
      'final reports/s': Math.round(f.finalPerS),
      'not final': f.notFinal,
      refused: f.refused,
      'final median slots': f.medianSlots,
      'final p99 slots': f.p99Slots,
      'classic median slots': f.classicMedianSlots,
      'classic p99 slots': f.classicP99Slots,
      'missed slots': `${f.missedUnderLoad} of ${f.slotsUnderLoad}`,
      'signature checks per report (node 1/2/3)': f.checksPerReport.join(' / '),
    })),
  );
  for (const f of rows) {
    printTable(
      `Receipt to final over the load, ${f.delegates} delegates (by when the receipt came)`,
      f.overTime.map((w) => ({
        'seconds into the load': `${w.from}-${w.to}`,
        reports: w.reports,
        'median slots': w.medianSlots,
        'p99 slots': w.p99Slots,
      })),
    );
  }
  printTable("verify-chain over phase 1's chain (node-1)", [
    {
      reports: verify.reports,
      seconds: verify.seconds,
      'reports/s': Math.round(verify.reports / verify.seconds),
    },
  ]);
  console.log(
    '\nTargets (issue 5): >= 400 final reports/s for 5 min; receipt-to-final median <= 3, p99 <= 5 slots (21 and 101 delegates); no slot missed because of load; verify-chain >= 1,500 reports/s.',
  );
  printSummary({
    final_reports_per_s: Math.round(main21.figures.finalPerS),
    finality_median_slots: main21.figures.medianSlots,
    finality_p99_slots: main21.figures.p99Slots,
    finality_median_slots_101: big.figures.medianSlots,
    finality_p99_slots_101: big.figures.p99Slots,
    classic_median_slots: main21.figures.classicMedianSlots,
    classic_median_slots_101: big.figures.classicMedianSlots,
    missed_slots_under_load: main21.figures.missedUnderLoad + big.figures.missedUnderLoad,
    not_final: main21.figures.notFinal + big.figures.notFinal,
    verify_chain_reports: verify.reports,
    verify_chain_reports_per_s: Math.round(verify.reports / verify.seconds),
  });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
