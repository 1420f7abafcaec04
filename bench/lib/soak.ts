// The soak (issue 8): a devnet-like consortium under load through a schedule of faults, then the
// receipts counted against the inclusions on every node. Shared by `npm run soak` (bench/soak.ts) and
// its short CI version (test/faults/faults-under-load.e2e-spec.ts).
//
// Three node processes on their own databases (node-2's on a Postgres cluster of the soak's own, so
// that it can be restarted), the control center, the three standard receivers (the grid operator's
// running its feedback contract), all on a Redis of the soak's own. Reports are signcrypted before the
// clock starts and sent in batches to the nodes in turn at a fixed rate; what a node refuses with
// 429/503 (or cannot store, or never answers) is offered again later, and is not a receipt until a
// node accepts it. Faults, in order, spread over the run:
//   1. SIGKILL of a producing node, while one of its delegates produces its slot (then restarted);
//   2. SIGKILL of the node that just gave receipts, right after the batch's answer, before its next
//      gossip tick (then restarted);
//   3. Postgres restarted (pg_ctl restart -m fast) under node-2;
//   4. Redis stopped for 30 s, then started again;
//   5. the grid operator's receiver SIGKILLed in the middle of a block (then restarted).
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { Client, Pool } from 'pg';

import { issueIdentityToken } from '@app/auth';
import type { ChainStatus, RoundView } from '@app/chain';
import { CONSORTIUM_FILES, createConsortium, writeConsortium } from '@app/control-center';
import { initCrypto, SystemParams, writeKeystoreFile } from '@app/crypto';
import {
  enrolMeters,
  enrolReceiver,
  type EnrolmentContext,
  NodeNetwork,
  prepareDatabase,
  type RunningService,
  type ServiceSpec,
  startService,
} from '@app/devnet';
import { slotAt, slotStart, type Timing, Transaction } from '@app/ledger';
import { FleetSimulator } from '@app/meter-sdk';
import { repoRoot } from '@app/persistence';
import type { ContractResultBody } from '@app/registry';
import { ThrowawayPostgres, ThrowawayRedis } from '@app/testing';

import {
  CONSORTIUM_ORGANISATIONS,
  CONSORTIUM_RECEIVER_OWNERS,
  CONSORTIUM_RECEIVERS,
  fleetSpecs,
} from './consortium';
import { printTable } from './harness';
import { type Prepared, PreparedReports } from './prepared-reports';

export const NODES = ['node-1', 'node-2', 'node-3'] as const;
export const RECEIVERS = CONSORTIUM_RECEIVERS;
/** Who registers (and runs) each receiver, by receiver id. */
const RECEIVER_OWNERS: Record<
  string,
  (typeof CONSORTIUM_RECEIVER_OWNERS)[keyof typeof CONSORTIUM_RECEIVER_OWNERS]
> = Object.fromEntries(
  (Object.keys(CONSORTIUM_RECEIVERS) as Array<keyof typeof CONSORTIUM_RECEIVERS>).map((role) => [
    CONSORTIUM_RECEIVERS[role],
    CONSORTIUM_RECEIVER_OWNERS[role],
  ]),
);
const PASSPHRASE = 'soak-passphrase';
const BATCH = 50;
const TICK_MS = 250;
/** Requests to the nodes at once; beyond it the generator falls behind (and says so). */
const MAX_IN_FLIGHT = 48;
const RETRY_AFTER_MS = 1_000;
/** Load after the last fault's recovery: the "after" throughput of the last faults. */
const TAIL_MS = 20_000;

export type FaultKind =
  'producer-kill' | 'receipt-node-kill' | 'postgres-restart' | 'redis-outage' | 'receiver-kill';

export interface FaultPlan {
  kind: FaultKind;
  /** When, as a fraction of the load's duration (the fault waits for the one before to recover). */
  at: number;
}

/** Spread over the run: a fault-free stretch first (the reference throughput), a quiet tail last. */
export const STANDARD_SCHEDULE: readonly FaultPlan[] = [
  { kind: 'producer-kill', at: 0.12 },
  { kind: 'receipt-node-kill', at: 0.26 },
  { kind: 'postgres-restart', at: 0.4 },
  { kind: 'redis-outage', at: 0.52 },
  { kind: 'receiver-kill', at: 0.74 },
];

export interface SoakPorts {
  /** One per node, in NODES order. */
  nodes: readonly number[];
  controlCenter: number;
  /** One per receiver, in RECEIVERS order. */
  receivers: readonly number[];
  phones: number;
  redis: number;
  postgres: number;
}

export interface SoakOptions {
  rate: number;
  durationSeconds: number;
  meters: number;
  delegates: number;
  slotMs: number;
  /** URL of a database on the shared server (nodes 1 and 3, the receivers): `role` names it. */
  sharedDatabase: (role: string) => string;
  ports: SoakPorts;
  redisDownMs: number;
  schedule: readonly FaultPlan[];
  /**
   * Reports prepared, as a multiple of rate x duration (default 1.25, and at least 90 s more): the
   * load goes on past the duration until the last fault has recovered, while they last.
   */
  reserve?: number;
  /** Keep the consortium directory and logs (they are kept anyway when a check fails). */
  keep: boolean;
  /** Where the nodes and receivers write V8 CPU profiles (--cpu-prof), if anywhere. */
  profileDir?: string;
  /**
   * Load pg_stat_statements into the soak's own Postgres (node-2's database) and log, when the load
   * is done, the statements that took the most time there.
   */
  statementStats?: boolean;
  log: (line: string) => void;
}

export interface FaultRecord {
  kind: FaultKind;
  target: string;
  note: string;
  /** Seconds since the load started: injected, undone (node back, Redis back...), recovered. */
  at: number;
  downSeconds: number;
  recoverySeconds: number;
  recoverySlots: number;
  recoveryRounds: number;
  recovered: boolean;
  intakeBefore: number;
  intakeAfter: number;
}

export interface ReceiverCheck {
  receiver: string;
  expected: number;
  readings: number;
  skipped: number;
  extra: number;
  tampered: number;
  contractResults: number | null;
  /** The operator's results in the reference node's final chain (each once), or null. */
  contractResultsOnChain: number | null;
  ok: boolean;
}

export interface SoakResult {
  offered: number;
  receipts: number;
  /** Receipts found in every node's final chain. */
  included: number;
  lost: number;
  /** Report ids more than once in some node's final chain. */
  duplicated: number;
  /** Receipts missing from each node's final chain, in NODES order. */
  missingByNode: number[];
  /** Receipts missing somewhere, by the node that gave them. */
  lostByReceiptNode: number[];
  reportsInChain: number;
  refusals: { busy429: number; full503: number; unavailable: number; failedRequests: number; other: number };
  refusalCodes: Record<string, number>;
  /** Receipts given by a node killed right after giving them. */
  receiptsAtRisk: number;
  faults: FaultRecord[];
  faultFreeIntake: number;
  tailIntake: number;
  finalReportsPerS: number;
  /** Seconds from the end of the load until the operator's contract had answered every reading. */
  contractLagSeconds: number | null;
  /** Seconds from the end of the load until the last of those answers was final on node-1's chain. */
  contractOnChainLagSeconds: number | null;
  recoveryRoundsMax: number;
  throughputAfterFaultRatio: number;
  verifyChain: Array<{ node: string; ok: boolean; output: string }>;
  chainsAgree: boolean;
  finalHeights: string[];
  receivers: ReceiverCheck[];
  unexpectedExits: string[];
  loadSeconds: number;
  logDir: string;
  ok: boolean;
}

const BODY_PREFIX = Buffer.from('{"reports":[');
const BODY_SEPARATOR = Buffer.from(',');
const BODY_SUFFIX = Buffer.from(']}');

/** The body of POST /reports/batch for prepared reports. */
function batchBody(reports: readonly Prepared[]): Buffer {
  const parts = reports.flatMap((r) => [BODY_SEPARATOR, r.json]).slice(1);
  return Buffer.concat([BODY_PREFIX, ...parts, BODY_SUFFIX]);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function getJson<T>(url: string, authorization?: string, timeoutMs = 3_000): Promise<T> {
  const response = await fetch(url, {
    headers: authorization ? { authorization } : {},
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (!response.ok) {
    throw new Error(`${url}: ${response.status}`);
  }
  return (await response.json()) as T;
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await sleep(500);
  }
}

/**
 * Waits until `remaining` reaches 0, as long as it keeps falling: it gives up after `stallMs` without
 * progress (a backlog that drains slowly is throughput, one that stops is a fault).
 */
async function waitWhileProgressing(
  what: string,
  remaining: () => Promise<number>,
  stallMs: number,
): Promise<void> {
  let least = Infinity;
  let progressAt = Date.now();
  for (;;) {
    const left = await remaining().catch(() => least);
    if (left <= 0) {
      return;
    }
    if (left < least) {
      least = left;
      progressAt = Date.now();
    } else if (Date.now() - progressAt > stallMs) {
      throw new Error(`${what}: ${left} left, and no progress for ${stallMs} ms`);
    }
    await sleep(1_000);
  }
}

/** The statements that took the most time in the database's cluster so far (pg_stat_statements). */
async function logStatementStats(url: string, log: (line: string) => void): Promise<void> {
  await sql(url, 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  const rows = await sql<{ calls: string; total_ms: number; mean_ms: number; rows: string; query: string }>(
    url,
    `SELECT calls, total_exec_time AS total_ms, mean_exec_time AS mean_ms, rows, query
     FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 12`,
  );
  log(`statements that took the most time in node-2's Postgres (total s, calls, mean ms, rows):`);
  for (const row of rows) {
    const query = row.query.replace(/\s+/g, ' ').slice(0, 110);
    log(
      `  ${(row.total_ms / 1000).toFixed(1).padStart(7)} ${String(row.calls).padStart(9)} ` +
        `${row.mean_ms.toFixed(2).padStart(8)} ${String(row.rows).padStart(9)}  ${query}`,
    );
  }
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

/** Delegates per node: node-3 hosts about a quarter, so that the two others keep more than 2/3 alone. */
function hosting(delegates: readonly string[]): string[][] {
  const third = Math.floor(delegates.length / 4);
  const first = Math.ceil((delegates.length - third) / 2);
  return [
    delegates.slice(0, first),
    delegates.slice(first, delegates.length - third),
    delegates.slice(delegates.length - third),
  ];
}

/**
 * Sends prepared reports at a fixed rate to the nodes in turn; whatever is not accepted for a reason
 * that is not a verdict on the report (429, 503, INTAKE.UNAVAILABLE, no answer) is offered again.
 */
class LoadGenerator {
  readonly receipts = new Map<string, { node: number; at: number }>();
  /** New receipts per second since the start. */
  readonly perSecond: number[] = [];
  readonly refusals = { busy429: 0, full503: 0, unavailable: 0, failedRequests: 0, other: 0 };
  readonly refusalCodes: Record<string, number> = {};
  offered = 0;
  start = 0;
  /** When the paced load stopped, and whether because the prepared reports ran out. */
  pacedEnd = 0;
  ranOut = false;
  private readonly retry: Array<{ reports: Prepared[]; notBefore: number }> = [];
  private readonly inFlight = new Set<Promise<void>>();
  private turn = 0;
  private armed: { node: number; fire: (receipts: string[]) => void } | undefined;
  private stopped = false;

  constructor(
    private readonly urls: readonly string[],
    private readonly rate: number,
  ) {}

  /** The next answer with new receipts from `node` calls `fire` at once, before anything else runs. */
  armOnAnswer(node: number, fire: (receipts: string[]) => void): void {
    this.armed = { node, fire };
  }

  disarm(): void {
    this.armed = undefined;
  }

  stop(): void {
    this.stopped = true;
  }

  /** Paces the batches while `keepGoing` says so (and batches remain), then offers the refused again. */
  async run(batches: PreparedReports, keepGoing: () => boolean, graceMs: number): Promise<void> {
    const perTick = (this.rate * TICK_MS) / 1000;
    let due = 0;
    let next = 0;
    this.start = Date.now();
    while (!this.stopped && next < batches.batchCount && keepGoing()) {
      due += perTick;
      while (due >= BATCH && next < batches.batchCount && this.inFlight.size < MAX_IN_FLIGHT) {
        due -= BATCH;
        const batch = batches.batch(next++);
        this.offered += batch.length;
        this.send(batch);
      }
      this.sendRetries(Math.max(1, Math.ceil(perTick / BATCH)));
      await sleep(TICK_MS);
    }
    this.pacedEnd = Date.now();
    this.ranOut = next >= batches.batchCount;
    // What is still refused is offered again for a while after the end.
    const deadline = Date.now() + graceMs;
    while (!this.stopped && (this.retry.length > 0 || this.inFlight.size > 0) && Date.now() < deadline) {
      this.sendRetries(Math.max(1, Math.ceil(perTick / BATCH)));
      await sleep(TICK_MS);
    }
    await Promise.all(this.inFlight);
  }

  /** Reports still refused at the end (offered, never a receipt). */
  get unsent(): number {
    return this.retry.reduce((n, r) => n + r.reports.length, 0);
  }

  intake(fromMs: number, toMs: number): number {
    const a = Math.max(0, Math.floor((fromMs - this.start) / 1000));
    const b = Math.floor((toMs - this.start) / 1000);
    if (b <= a) {
      return NaN;
    }
    let n = 0;
    for (let s = a; s < b; s += 1) {
      n += this.perSecond[s] ?? 0;
    }
    return n / (b - a);
  }

  private sendRetries(max: number): void {
    const now = Date.now();
    for (let k = 0; k < max && this.inFlight.size < MAX_IN_FLIGHT; k += 1) {
      const index = this.retry.findIndex((r) => r.notBefore <= now);
      if (index < 0) {
        return;
      }
      this.send(this.retry.splice(index, 1)[0]!.reports);
    }
  }

  private again(reports: Prepared[]): void {
    if (reports.length > 0) {
      this.retry.push({ reports, notBefore: Date.now() + RETRY_AFTER_MS });
    }
  }

  private send(reports: Prepared[]): void {
    const node = this.turn++ % this.urls.length;
    const sent = fetch(`${this.urls[node]}/reports/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: batchBody(reports),
      signal: AbortSignal.timeout(30_000),
    })
      .then(async (response) => {
        if (response.status !== 200) {
          if (response.status === 429) {
            this.refusals.busy429 += reports.length;
          } else if (response.status === 503) {
            this.refusals.full503 += reports.length;
          } else {
            this.refusals.failedRequests += reports.length;
          }
          await response.body?.cancel();
          this.again(reports);
          return;
        }
        const body = (await response.json()) as {
          results: Array<{ index: number; reportId?: string; error?: { code: string } }>;
        };
        const at = Date.now();
        const fresh: string[] = [];
        const unavailable: Prepared[] = [];
        for (const result of body.results) {
          if (result.reportId) {
            if (!this.receipts.has(result.reportId)) {
              this.receipts.set(result.reportId, { node, at });
              fresh.push(result.reportId);
            }
          } else if (result.error?.code === 'INTAKE.UNAVAILABLE') {
            this.refusals.unavailable += 1;
            unavailable.push(reports[result.index]!);
          } else {
            const code = result.error?.code ?? 'unknown';
            this.refusals.other += 1;
            this.refusalCodes[code] = (this.refusalCodes[code] ?? 0) + 1;
          }
        }
        if (this.armed?.node === node && fresh.length > 0) {
          const { fire } = this.armed;
          this.armed = undefined;
          fire(fresh);
        }
        const second = Math.floor((at - this.start) / 1000);
        this.perSecond[second] = (this.perSecond[second] ?? 0) + fresh.length;
        this.again(unavailable);
      })
      .catch(() => {
        // No answer (a killed node, a reset connection): the node may or may not have stored them.
        this.refusals.failedRequests += reports.length;
        this.again(reports);
      })
      .finally(() => this.inFlight.delete(sent));
    this.inFlight.add(sent);
  }
}

/** How many times each report is in one node's final chain, read block by block as it grows. */
class ChainScanner {
  readonly counts = new Map<string, number>();
  /** Height of each report's (first) block. */
  readonly heights = new Map<string, number>();
  private last = 0;

  constructor(readonly databaseUrl: string) {}

  async scan(): Promise<void> {
    const rows = await sql<{ hash: Buffer; height: string }>(
      this.databaseUrl,
      `SELECT hash, height FROM block_transactions WHERE kind = 'report' AND height > $1 ORDER BY height`,
      [this.last],
    );
    for (const row of rows) {
      const id = row.hash.toString('hex');
      const height = Number(row.height);
      this.counts.set(id, (this.counts.get(id) ?? 0) + 1);
      if (!this.heights.has(id)) {
        this.heights.set(id, height);
      }
      this.last = Math.max(this.last, height);
    }
  }
}

interface ManagedService {
  spec: ServiceSpec;
  service: RunningService;
}

/** Runs the soak; stops and removes everything it started, whatever happens. */
export async function runSoak(options: SoakOptions): Promise<SoakResult> {
  const { log } = options;
  await initCrypto();
  const dir = await mkdtemp(path.join(tmpdir(), 'cbsg-soak-'));
  const logDir = path.join(dir, 'logs');
  await mkdir(logDir, { recursive: true });
  const services = new Map<string, ManagedService>();
  let network: NodeNetwork | undefined;
  let redis: ThrowawayRedis | undefined;
  let postgres: ThrowawayPostgres | undefined;
  let phones: Server | undefined;
  let prepared: PreparedReports | undefined;
  const sharedDatabases: string[] = [];
  const lastResort = () => {
    network?.killNow();
    for (const { service } of services.values()) {
      if (service.running) {
        service.child.kill('SIGKILL');
      }
    }
    redis?.killNow();
    postgres?.destroyNow();
  };
  process.on('exit', lastResort);
  let result: SoakResult | undefined;
  try {
    redis = await ThrowawayRedis.start({ port: options.ports.redis, dataDir: dir });
    postgres = await ThrowawayPostgres.create(
      options.ports.postgres,
      options.statementStats ? { shared_preload_libraries: 'pg_stat_statements' } : {},
    );
    log(
      `own Redis on ${redis.port} (pid ${redis.pid}), own Postgres on ${postgres.port} (pid ${postgres.pid})`,
    );

    const delegateIds = Array.from(
      { length: options.delegates },
      (_, i) => `delegate-${String(i + 1).padStart(3, '0')}`,
    );
    const consortium = await createConsortium({
      chainId: 'cbsg-soak',
      organisations: CONSORTIUM_ORGANISATIONS,
      delegates: delegateIds.map((id, i) => ({ id, organisation: CONSORTIUM_ORGANISATIONS[i % 2]!.id })),
      nodes: NODES.map((id) => ({ id, organisation: 'control-center' })),
      producers: options.delegates,
      slotMs: options.slotMs,
    });
    await writeConsortium(consortium, dir, PASSPHRASE, { scrypt: { N: 2 ** 14, r: 8, p: 1 } });
    const timing: Timing = {
      genesisTime: consortium.genesis.createdAt,
      slotMs: options.slotMs,
      producers: options.delegates,
    };
    const hosted = hosting(delegateIds);
    // A process SIGKILLed by a fault writes no profile; the one that replaces it does. Sampled every
    // 10 ms: at V8's default 1 ms, a dozen sampled threads on this VM slow the consortium to a crawl.
    const profileArgs = options.profileDir
      ? ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`, '--cpu-prof-interval=10000']
      : undefined;
    const databases = NODES.map((id, i) =>
      i === 1
        ? postgres!.url(`cbsg_soak_${id.replace(/-/g, '_')}`)
        : options.sharedDatabase(id.replace(/-/g, '_')),
    );
    sharedDatabases.push(databases[0]!, databases[2]!);
    network = NodeNetwork.create({
      consortiumDir: dir,
      passphrase: PASSPHRASE,
      nodes: NODES.map((id, i) => ({
        id,
        databaseUrl: databases[i]!,
        port: options.ports.nodes[i]!,
        delegates: hosted[i]!,
      })),
      redisUrl: redis.url,
      logDir,
      queuePrefix: `soak-${process.pid}`,
      freshDatabases: true,
      logLevel: 'warn',
      ...(profileArgs ? { nodeArgs: profileArgs } : {}),
      env: {
        CRYPTO_WORKERS: '1',
        DATABASE_POOL_SIZE: '12',
        // Reports are signcrypted before the clock starts and may wait in a backlog: a long window
        // keeps the soak about faults, not about reports aging out (see the soak's report).
        ACCEPT_WINDOW_MS: String(6 * 3_600_000),
      },
    });
    const net = network;
    await net.start();
    const urls = net.nodes.map((n) => n.url);
    log(
      `nodes up: ${net.nodes.map((n, i) => `${n.id} ${n.url} (${hosted[i]!.length} delegates)`).join(', ')}; logs in ${logDir}`,
    );

    const genesisFile = path.join(dir, CONSORTIUM_FILES.genesis);
    const ccUrl = `http://127.0.0.1:${options.ports.controlCenter}`;
    const startManaged = async (spec: ServiceSpec) => {
      const profiled =
        profileArgs && spec.name.startsWith('receiver-') ? { ...spec, nodeArgs: profileArgs } : spec;
      services.set(spec.name, {
        spec: profiled,
        service: await startService(profiled, { timeoutMs: 90_000 }),
      });
    };
    await startManaged({
      name: 'control-center',
      entry: 'apps/control-center/src/main.ts',
      env: {
        NODE_URL: urls[0]!,
        GENESIS_FILE: genesisFile,
        CC_KEYS_DIR: dir,
        CC_PASSPHRASE: PASSPHRASE,
        HTTP_PORT: String(options.ports.controlCenter),
        LOG_LEVEL: 'warn',
      },
      readyUrl: `${ccUrl}/openapi.json`,
      logDir,
    });
    const ctx: EnrolmentContext = {
      nodeUrl: urls[0]!,
      ccUrl,
      chainId: consortium.genesis.chainId,
      params: SystemParams.fromJSON(consortium.genesis.systemParams),
      organisationKeys: consortium.organisationKeys,
    };
    const token = (organisation: string) =>
      `Bearer ${issueIdentityToken(
        consortium.organisationKeys.get(organisation)!,
        consortium.genesis.chainId,
        {
          kind: 'organisation',
          id: organisation,
        },
      )}`;

    // The owners' phones: the contract's notifications land here.
    phones = createServer((request, response) => {
      request.resume();
      request.on('end', () => response.writeHead(204).end());
    });
    await new Promise<void>((resolve) => phones!.listen(options.ports.phones, '127.0.0.1', resolve));

    // The three standard receivers, registered, each a process on its own database, following a node.
    const receiverIds = Object.values(RECEIVERS);
    const receiverUrls: string[] = [];
    const receiverDatabases: string[] = [];
    for (const [i, id] of receiverIds.entries()) {
      const organisation = RECEIVER_OWNERS[id]!;
      const holder = await enrolReceiver(ctx, { id, organisation, role: organisation });
      const keystore = path.join(dir, 'keys', `receiver-${id}.keystore.json`);
      await writeKeystoreFile(
        keystore,
        { kind: 'receiver', id, publicKey: holder.keys.publicKey, key: holder.keys.secret },
        PASSPHRASE,
        { scrypt: { N: 2 ** 14, r: 8, p: 1 } },
      );
      const database = options.sharedDatabase(`receiver_${id.replace(/-/g, '_')}`);
      sharedDatabases.push(database);
      receiverDatabases.push(database);
      await prepareDatabase(database, { fresh: true });
      const port = options.ports.receivers[i]!;
      receiverUrls.push(`http://127.0.0.1:${port}`);
      await startManaged({
        name: `receiver-${id}`,
        entry: 'apps/receiver/src/main.ts',
        env: {
          RECEIVER_ID: id,
          RECEIVER_KEYSTORE: keystore,
          KEYSTORE_PASSPHRASE: PASSPHRASE,
          NODE_URL: urls[i % urls.length]!,
          WITNESS_NODE_URLS: urls.join(','),
          GENESIS_FILE: genesisFile,
          DATABASE_URL: database,
          HTTP_PORT: String(port),
          CRYPTO_WORKERS: '1',
          LOG_LEVEL: 'warn',
          ORGANISATION_ID: organisation,
          ORGANISATION_KEYSTORE: path.join(dir, CONSORTIUM_FILES.organisationKey(organisation)),
          ...(id === RECEIVERS.gridOperator
            ? {
                CONTRACT: 'grid-operator-feedback',
                REDIS_URL: redis.url,
                QUEUE_PREFIX: `soak-receiver-${process.pid}`,
              }
            : {}),
        },
        readyUrl: `http://127.0.0.1:${port}/health/live`,
        logDir,
      });
    }

    // The fleet, then its reports, signcrypted before the clock starts.
    const simulator = new FleetSimulator({ seed: 800, meters: options.meters });
    const enrolStarted = Date.now();
    const fleet = await enrolMeters(
      ctx,
      fleetSpecs(simulator, `http://127.0.0.1:${options.ports.phones}/notify`),
      { concurrency: 16 },
    );
    for (const url of urls) {
      await waitUntil(
        `${url} to know the meters`,
        async () => (await fetch(`${url}/meters/${fleet.at(-1)!.spec.meterId}`)).ok,
        180_000,
      );
    }
    // A reserve beyond --duration: the load goes on until the last fault has recovered.
    // Faults wait for the one before to recover, so a short run stretches more: at least 90 s more.
    const reserve = options.reserve ?? Math.max(1.25, 1 + 90 / options.durationSeconds);
    const total = Math.ceil(options.rate * options.durationSeconds * reserve);
    const signStarted = Date.now();
    const batches = new PreparedReports(path.join(dir, 'prepared-reports.json-seq'), total, BATCH);
    prepared = batches;
    for (let k = 0; k < total; k += 1) {
      const meter = k % fleet.length;
      const at = signStarted + Math.floor((k / options.rate) * 1000);
      const report = fleet[meter]!.reporter.report(simulator.reading(fleet[meter]!.spec.meterId, at), at);
      batches.add(report.idHex, meter, JSON.stringify(report.toJSON()));
    }
    log(
      `${options.meters} meters enrolled in ${((signStarted - enrolStarted) / 1000).toFixed(0)} s; ` +
        `${total.toLocaleString('en-US')} reports signcrypted in ${((Date.now() - signStarted) / 1000).toFixed(0)} s`,
    );

    // Watch: what a node says of its chain; a process that dies without being killed is restarted
    // and reported.
    const statuses = (): Promise<Array<ChainStatus | undefined>> =>
      Promise.all(
        urls.map((u) => getJson<ChainStatus>(`${u}/chain/status`, undefined, 2_000).catch(() => undefined)),
      );
    const held = new Set<string>();
    const unexpectedExits: string[] = [];
    const load = new LoadGenerator(urls, options.rate);
    const since = (t: number) => (t - load.start) / 1000;
    let supervising = true;
    const supervisor = (async () => {
      while (supervising) {
        for (const node of net.nodes) {
          if (!node.running && !held.has(node.id)) {
            held.add(node.id);
            unexpectedExits.push(`${node.id} at ${since(Date.now()).toFixed(0)} s`);
            log(`!! ${node.id} exited on its own; restarting it (see ${logDir}/${node.id}.log)`);
            await node.start().catch((e: unknown) => log(`!! ${node.id} did not restart: ${String(e)}`));
            held.delete(node.id);
          }
        }
        for (const [name, managed] of services) {
          if (!managed.service.running && !held.has(name)) {
            held.add(name);
            unexpectedExits.push(`${name} at ${since(Date.now()).toFixed(0)} s`);
            log(`!! ${name} exited on its own; restarting it (see ${logDir}/${name}.log)`);
            await startManaged(managed.spec).catch((e: unknown) =>
              log(`!! ${name} did not restart: ${String(e)}`),
            );
            held.delete(name);
          }
        }
        await sleep(1_000);
      }
    })();

    const roundMs = options.slotMs * options.delegates;
    /** The whole network finalizes again: every node answers, and its final height passed `height`. */
    const recoveredPast = async (height: number, timeoutMs: number): Promise<number | undefined> => {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        const all = await statuses();
        if (all.every((s) => s !== undefined && Number(s.final.height) > height)) {
          return Date.now();
        }
        await sleep(250);
      }
      return undefined;
    };
    const maxFinal = async () => Math.max(...(await statuses()).map((s) => (s ? Number(s.final.height) : 0)));

    const receiverStatus = (i: number) =>
      getJson<{ height: string; nodeFinalHeight: string | null }>(
        `${receiverUrls[i]}/status`,
        token(RECEIVER_OWNERS[receiverIds[i]!]!),
      );

    const restartNode = async (index: number) => {
      await sleep(1_000);
      await net.nodes[index]!.start();
      held.delete(net.nodes[index]!.id);
    };

    let receiptsAtRisk: string[] = [];
    const inject = async (
      kind: FaultKind,
    ): Promise<{ target: string; note: string; tEnd: number; height: number; receiver?: number }> => {
      switch (kind) {
        case 'producer-kill': {
          // node-3: the node that the two others can finalize without, as a crash should find it.
          const index = 2;
          const node = net.nodes[index]!;
          const ours = new Set(hosted[index]);
          let slot: { slot: string; producer: string } | undefined;
          while (!slot) {
            const view = await getJson<RoundView>(`${urls[0]}/schedule`, token('grid-operator'));
            const now = slotAt(timing, Date.now());
            slot = view.slots.find((s) => BigInt(s.slot) > now && ours.has(s.producer));
            if (!slot) {
              await sleep(options.slotMs);
            }
          }
          // A tenth into the slot the node builds and signs its block; kill it in the middle of that.
          held.add(node.id);
          await sleep(slotStart(timing, BigInt(slot.slot)) + options.slotMs / 10 + 30 - Date.now());
          await node.kill();
          const note = `killed in slot ${slot.slot} of ${slot.producer}`;
          await restartNode(index);
          return { target: node.id, note, tEnd: Date.now(), height: await maxFinal() };
        }
        case 'receipt-node-kill': {
          // node-1, which the chain cannot finalize without (8 of 21 votes): the chain waits for it.
          const index = 0;
          const node = net.nodes[index]!;
          held.add(node.id);
          const fired = new Promise<string[]>((resolve) => {
            load.armOnAnswer(index, (receipts) => {
              node.process?.child.kill('SIGKILL');
              resolve(receipts);
            });
            // No answer with new receipts within a minute (a stalled intake): kill it anyway.
            setTimeout(() => {
              load.disarm();
              resolve([]);
            }, 60_000).unref();
          });
          receiptsAtRisk = await fired;
          await node.kill();
          const note =
            receiptsAtRisk.length > 0
              ? `killed right after giving ${receiptsAtRisk.length} receipts`
              : 'killed (no answer with new receipts came within 60 s)';
          await restartNode(index);
          return { target: node.id, note, tEnd: Date.now(), height: await maxFinal() };
        }
        case 'postgres-restart': {
          const started = Date.now();
          await postgres!.restart();
          const note = `pg_ctl restart -m fast took ${Date.now() - started} ms (postmaster pid ${postgres!.pid})`;
          return { target: `${NODES[1]}'s Postgres`, note, tEnd: Date.now(), height: await maxFinal() };
        }
        case 'redis-outage': {
          const pid = redis!.pid;
          await redis!.stop('SIGTERM');
          await sleep(options.redisDownMs);
          await redis!.start();
          return {
            target: 'Redis',
            note: `pid ${pid} stopped for ${options.redisDownMs / 1000} s, now pid ${redis!.pid}`,
            tEnd: Date.now(),
            height: await maxFinal(),
          };
        }
        case 'receiver-kill': {
          const index = receiverIds.indexOf(RECEIVERS.gridOperator);
          const name = `receiver-${RECEIVERS.gridOperator}`;
          const managed = services.get(name)!;
          held.add(name);
          // Mid-block: while it has final blocks to take.
          let busy = false;
          const until = Date.now() + 60_000;
          while (!busy && Date.now() < until) {
            const st = await receiverStatus(index).catch(() => undefined);
            busy =
              st !== undefined &&
              st.nodeFinalHeight !== null &&
              BigInt(st.nodeFinalHeight) > BigInt(st.height);
            if (!busy) {
              await sleep(20);
            }
          }
          await managed.service.kill();
          await sleep(1_000);
          await startManaged(managed.spec);
          held.delete(name);
          const st = await receiverStatus(index);
          return {
            target: name,
            note: busy ? 'killed with final blocks to take' : 'killed (it was idle)',
            tEnd: Date.now(),
            height: Number(st.nodeFinalHeight ?? 0),
            receiver: index,
          };
        }
      }
    };

    const records: Array<Omit<FaultRecord, 'intakeBefore' | 'intakeAfter'> & { t0: number; tRec: number }> =
      [];
    let faultError: unknown;
    const faultRunner = async () => {
      for (const plan of options.schedule) {
        const due = load.start + plan.at * options.durationSeconds * 1000;
        await sleep(due - Date.now());
        const t0 = Date.now();
        log(`[${since(t0).toFixed(0)} s] fault: ${plan.kind}`);
        const done = await inject(plan.kind);
        let tRec: number | undefined;
        if (done.receiver !== undefined) {
          const index = done.receiver;
          const deadline = Date.now() + 6 * roundMs;
          while (Date.now() < deadline && tRec === undefined) {
            const st = await receiverStatus(index).catch(() => undefined);
            if (st && Number(st.height) >= done.height) {
              tRec = Date.now();
            } else {
              await sleep(250);
            }
          }
        } else {
          tRec = await recoveredPast(done.height, 6 * roundMs);
        }
        const recovery = tRec === undefined ? NaN : tRec - done.tEnd;
        records.push({
          kind: plan.kind,
          target: done.target,
          note: done.note,
          at: since(t0),
          downSeconds: (done.tEnd - t0) / 1000,
          recoverySeconds: recovery / 1000,
          recoverySlots: recovery / options.slotMs,
          recoveryRounds: recovery / roundMs,
          recovered: tRec !== undefined,
          t0,
          tRec: tRec ?? done.tEnd,
        });
        log(
          `[${since(Date.now()).toFixed(0)} s]   ${done.target}: ${done.note}; down ${((done.tEnd - t0) / 1000).toFixed(1)} s, ` +
            (tRec === undefined
              ? 'NOT recovered'
              : `recovered ${(recovery / options.slotMs).toFixed(1)} slots later`),
        );
      }
    };

    // The run.
    const loadStarted = Date.now();
    const generatorCpu = process.cpuUsage();
    const schedule: { doneAt?: number } = {};
    const loadDone = load.run(
      batches,
      () =>
        Date.now() < loadStarted + options.durationSeconds * 1000 ||
        schedule.doneAt === undefined ||
        Date.now() < schedule.doneAt + TAIL_MS,
      120_000,
    );
    let progress = true;
    const progressLog = (async () => {
      for (let k = 1; progress; k += 1) {
        await sleep(1_000);
        if (k % 15 !== 0) {
          continue;
        }
        const all = await statuses();
        log(
          `[${since(Date.now()).toFixed(0)} s] offered ${load.offered} receipts ${load.receipts.size} ` +
            `refused 429:${load.refusals.busy429} 503:${load.refusals.full503} unavailable:${load.refusals.unavailable} ` +
            `no answer:${load.refusals.failedRequests}; final ${all.map((s) => (s ? s.final.height : 'down')).join('/')}`,
        );
      }
    })();
    await faultRunner().catch((error: unknown) => {
      faultError = error;
      log(`!! the fault schedule stopped: ${String(error)}`);
    });
    schedule.doneAt = Date.now();
    await loadDone;
    const loadEnded = load.pacedEnd;
    if (load.ranOut && loadEnded < schedule.doneAt + TAIL_MS) {
      log('!! the prepared reports ran out before the faults were over: the last figures are without load');
    }
    progress = false;
    await progressLog;
    log(`load done: ${load.receipts.size} receipts of ${load.offered} offered; ${load.unsent} still refused`);
    const generatorUsage = process.cpuUsage(generatorCpu);
    log(
      `the load generator (this process) used ${((generatorUsage.user + generatorUsage.system) / 1000 / (Date.now() - loadStarted)).toFixed(2)} cores`,
    );
    if (options.statementStats) {
      await logStatementStats(databases[1]!, log).catch((error: unknown) =>
        log(`!! no statement statistics: ${(error as Error).message}`),
      );
    }

    // Every receipt into every node's final chain (or no more progress for two minutes).
    const scanners = databases.map((url) => new ChainScanner(url));
    const receiptIds = [...load.receipts.keys()];
    const missingOn = (scanner: ChainScanner) => receiptIds.filter((id) => !scanner.counts.has(id)).length;
    let lastMissing = Infinity;
    let lastProgress = Date.now();
    for (;;) {
      await Promise.all(scanners.map((s) => s.scan().catch(() => undefined)));
      const missing = scanners.reduce((n, s) => n + missingOn(s), 0);
      if (missing === 0) {
        break;
      }
      if (missing < lastMissing) {
        lastMissing = missing;
        lastProgress = Date.now();
      } else if (Date.now() - lastProgress > 120_000) {
        log(`!! no inclusion progress for 120 s with ${missing} receipt inclusions missing`);
        break;
      }
      await sleep(2_000);
    }
    const drainedAt = Date.now();
    let contractsDrainedAt: number | undefined;
    let lastResultFinalAt: number | undefined;
    supervising = false;
    await supervisor;

    // The nodes' final chains: one chain.
    await waitUntil(
      'the nodes to reach one final height',
      async () => new Set((await statuses()).map((s) => s?.final.height)).size === 1,
      30_000,
    ).catch(() => undefined);
    await Promise.all(scanners.map((s) => s.scan()));
    const chains = await Promise.all(
      databases.map((url) =>
        sql<{ hash: Buffer }>(url, 'SELECT hash FROM blocks ORDER BY height').then((rows) =>
          rows.map((r) => r.hash.toString('hex')),
        ),
      ),
    );
    const common = Math.min(...chains.map((c) => c.length));
    const chainsAgree = chains.every((c) => c.slice(0, common).every((h, i) => h === chains[0]![i]));
    const finalHeights = chains.map((c) => String(c.length));

    let included = 0;
    for (const id of receiptIds) {
      if (scanners.every((s) => s.counts.has(id))) {
        included += 1;
      }
    }
    const duplicatedIds = new Set<string>();
    for (const s of scanners) {
      for (const [id, n] of s.counts) {
        if (n > 1) {
          duplicatedIds.add(id);
        }
      }
    }

    // Each receiver: every included report of its own, once, up to the final height.
    const reference = scanners[0]!;
    const receivers: ReceiverCheck[] = [];
    const meterOf = batches.meterByReport();
    for (const [i, id] of receiverIds.entries()) {
      const target = Number(finalHeights[i % NODES.length]);
      await waitUntil(
        `${id} to reach height ${target}`,
        async () => Number((await receiverStatus(i)).height) >= target,
        180_000,
      ).catch(() => log(`!! ${id} did not reach height ${target}`));
      const { height } = await receiverStatus(i).catch(() => ({ height: '0' }));
      const expected = new Set<string>();
      for (const [report, at] of reference.heights) {
        const meter = meterOf.get(report);
        if (
          meter !== undefined &&
          at <= Number(height) &&
          fleet[meter]!.spec.policy.some((p) => p.receiver === id)
        ) {
          expected.add(report);
        }
      }
      const pool = new Pool({ connectionString: receiverDatabases[i]!, max: 1 });
      try {
        if (id === RECEIVERS.gridOperator) {
          // Its contract runs as jobs after each block: wait for them to drain, while they do.
          await waitWhileProgressing(
            `${id}'s contract results`,
            async () => {
              const { rows } = await pool.query<{ r: string; c: string }>(
                `SELECT (SELECT count(*) FROM receiver_readings WHERE receiver_id = $1) AS r,
                        (SELECT count(*) FROM contract_results WHERE receiver_id = $1) AS c`,
                [id],
              );
              return Number(rows[0]!.r) - Number(rows[0]!.c);
            },
            120_000,
          ).catch((error: unknown) => log(`!! ${String(error)}`));
          contractsDrainedAt = Date.now();
        }
        const readings = (
          await pool.query<{ report_id: Buffer }>(
            'SELECT report_id FROM receiver_readings WHERE receiver_id = $1',
            [id],
          )
        ).rows.map((r) => r.report_id.toString('hex'));
        const tampered = Number(
          (
            await pool.query<{ n: string }>(
              'SELECT count(*) AS n FROM receiver_tampered WHERE receiver_id = $1',
              [id],
            )
          ).rows[0]!.n,
        );
        let contractResults: number | null = null;
        let contractResultsOnChain: number | null = null;
        let contractOk = true;
        if (id === RECEIVERS.gridOperator) {
          const triggers = new Set(
            (
              await pool.query<{ trigger: string }>(
                'SELECT trigger FROM contract_results WHERE receiver_id = $1',
                [id],
              )
            ).rows.map((r) => r.trigger),
          );
          contractResults = triggers.size;
          // Published in batches, then included and final: every result in the chain, once.
          let onChain: string[] = [];
          await waitWhileProgressing(
            `${id}'s contract results in the final chain`,
            async () => {
              onChain = await chainContractTriggers(databases[0]!, id);
              return triggers.size - onChain.length;
            },
            120_000,
          ).catch((error: unknown) => log(`!! ${String(error)}`));
          contractResultsOnChain = new Set(onChain).size;
          lastResultFinalAt = await lastContractResultFinalAt(databases[0]!);
          contractOk =
            triggers.size === readings.length &&
            readings.every((r) => triggers.has(`report:${r}`)) &&
            onChain.length === triggers.size &&
            contractResultsOnChain === triggers.size;
        }
        const got = new Set(readings);
        const skipped = [...expected].filter((r) => !got.has(r)).length;
        const extra = readings.filter((r) => !expected.has(r)).length;
        receivers.push({
          receiver: id,
          expected: expected.size,
          readings: readings.length,
          skipped,
          extra,
          tampered,
          contractResults,
          contractResultsOnChain,
          ok: skipped === 0 && extra === 0 && tampered === 0 && contractOk && expected.size > 0,
        });
      } finally {
        await pool.end();
      }
    }

    // cbsg verify-chain on each node's database.
    const verifyChain: SoakResult['verifyChain'] = [];
    for (const [i, url] of databases.entries()) {
      const outcome = await cbsgVerifyChain(url, genesisFile);
      verifyChain.push({ node: NODES[i]!, ...outcome });
      log(`verify-chain ${NODES[i]}: ${outcome.output}`);
    }

    // Figures.
    const windowMs = 20_000;
    const firstFault = records[0]?.t0 ?? loadEnded;
    const faultFreeIntake = load.intake(load.start + 5_000, firstFault);
    const faults: FaultRecord[] = records.map((r, k) => {
      const next = records[k + 1]?.t0 ?? loadEnded;
      return {
        ...r,
        intakeBefore: load.intake(r.t0 - windowMs, r.t0),
        intakeAfter: load.intake(r.tRec, Math.min(r.tRec + windowMs, next, loadEnded)),
      };
    });
    const lastRecovery = records.at(-1)?.tRec ?? load.start;
    const tailIntake = load.intake(lastRecovery, loadEnded);
    const afterRatios = faults.map((f) => f.intakeAfter / faultFreeIntake).filter((x) => Number.isFinite(x));
    const recoveryRounds = faults.map((f) => (f.recovered ? f.recoveryRounds : Infinity));
    const lost = receiptIds.length - included;
    const receiversOk = receivers.every((r) => r.ok);
    const verifyOk = verifyChain.every((v) => v.ok);
    result = {
      offered: load.offered,
      receipts: receiptIds.length,
      included,
      lost,
      duplicated: duplicatedIds.size,
      missingByNode: scanners.map((s) => missingOn(s)),
      lostByReceiptNode: NODES.map(
        (_, node) =>
          receiptIds.filter(
            (id) => load.receipts.get(id)!.node === node && !scanners.every((s) => s.counts.has(id)),
          ).length,
      ),
      reportsInChain: reference.counts.size,
      refusals: { ...load.refusals },
      refusalCodes: { ...load.refusalCodes },
      receiptsAtRisk: receiptsAtRisk.length,
      faults,
      faultFreeIntake,
      tailIntake,
      finalReportsPerS: reference.counts.size / ((drainedAt - load.start) / 1000),
      contractLagSeconds:
        contractsDrainedAt === undefined ? null : Math.max(0, (contractsDrainedAt - loadEnded) / 1000),
      contractOnChainLagSeconds:
        lastResultFinalAt === undefined ? null : Math.max(0, (lastResultFinalAt - loadEnded) / 1000),
      recoveryRoundsMax: recoveryRounds.length > 0 ? Math.max(...recoveryRounds) : 0,
      throughputAfterFaultRatio: afterRatios.length > 0 ? Math.min(...afterRatios) : NaN,
      verifyChain,
      chainsAgree,
      finalHeights,
      receivers,
      unexpectedExits,
      loadSeconds: (loadEnded - loadStarted) / 1000,
      logDir,
      // What issue 8 counts as a failure: anything lost, duplicated or unverifiable, chains that
      // disagree, a receiver that skipped or repeated, a process that died without being killed, or a
      // fault schedule that could not run. Slow recovery is reported, not failed.
      ok:
        lost === 0 &&
        duplicatedIds.size === 0 &&
        verifyOk &&
        chainsAgree &&
        receiversOk &&
        unexpectedExits.length === 0 &&
        faultError === undefined,
    };
    return result;
  } finally {
    for (const { service } of [...services.values()].reverse()) {
      await service.stop().catch(() => undefined);
    }
    await network?.stop().catch(() => undefined);
    phones?.close();
    await redis?.stop('SIGTERM').catch(() => undefined);
    await postgres?.destroy().catch(() => undefined);
    prepared?.remove();
    for (const url of sharedDatabases) {
      await dropDatabase(url).catch(() => undefined);
    }
    process.off('exit', lastResort);
    if (!options.keep && result?.ok) {
      await rm(dir, { recursive: true, force: true });
    } else {
      log(`consortium and logs kept in ${dir}`);
    }
  }
}

/** The triggers of `receiverId`'s contract results in a node's final chain, as often as they are there. */
async function chainContractTriggers(databaseUrl: string, receiverId: string): Promise<string[]> {
  const rows = await sql<{ bytes: Buffer }>(
    databaseUrl,
    `SELECT bytes FROM block_transactions WHERE kind = 'contract.result'`,
  );
  return rows.flatMap((row) => {
    const body = Transaction.decode(row.bytes).body as ContractResultBody;
    return body.receiverId === receiverId ? body.results.map((r) => r.trigger) : [];
  });
}

/** When the last contract result became final on this node (its clock, the same machine's). */
async function lastContractResultFinalAt(databaseUrl: string): Promise<number | undefined> {
  const rows = await sql<{ at: Date | null }>(
    databaseUrl,
    `SELECT max(b.finalized_at) AS at FROM blocks b
       JOIN block_transactions t ON t.height = b.height WHERE t.kind = 'contract.result'`,
  );
  return rows[0]?.at?.getTime();
}

async function dropDatabase(url: string): Promise<void> {
  const admin = new URL(url);
  const name = admin.pathname.slice(1);
  admin.pathname = '/postgres';
  await sql(admin.toString(), `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
}

/** `cbsg verify-chain` on one node's database: every hash, root, signature and report from genesis. */
function cbsgVerifyChain(databaseUrl: string, genesisFile: string): Promise<{ ok: boolean; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [
        '-r',
        '@swc-node/register',
        'apps/cli/src/main.ts',
        'verify-chain',
        '--database-url',
        databaseUrl,
        '--genesis',
        genesisFile,
        '--workers',
        '2',
      ],
      { cwd: repoRoot(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('exit', (code) => {
      const line =
        out
          .split('\n')
          .filter((l) => /chain valid|CHAIN INVALID|error/i.test(l))
          .at(-1) ?? out.trim();
      resolve({ ok: code === 0 && /chain valid/.test(out), output: line.trim() });
    });
  });
}

/** The readable part of the soak's output: faults, counts, chains, receivers, throughput. */
export function printSoakReport(result: SoakResult, slotMs: number): void {
  printTable(
    "Faults (recovery: from the fault undone to every node finalizing past the height of that moment; a receiver: to its node's final height)",
    result.faults.map((f) => ({
      'at s': Math.round(f.at),
      fault: f.kind,
      target: f.target,
      'down s': f.downSeconds,
      'recovery slots': f.recovered ? f.recoverySlots : NaN,
      'recovery rounds': f.recovered ? f.recoveryRounds : NaN,
      recovered: f.recovered ? 'yes' : 'NO',
      'intake before /s': f.intakeBefore,
      'intake after /s': f.intakeAfter,
      note: f.note,
    })),
  );
  printTable("Receipts against inclusions (every node's final chain)", [
    {
      offered: result.offered,
      receipts: result.receipts,
      'included everywhere': result.included,
      lost: result.lost,
      'missing on node-1/2/3': result.missingByNode.join('/'),
      'lost, by receipt node 1/2/3': result.lostByReceiptNode.join('/'),
      duplicated: result.duplicated,
      'at risk (killed node)': result.receiptsAtRisk,
      '429': result.refusals.busy429,
      '503': result.refusals.full503,
      unavailable: result.refusals.unavailable,
      'no answer': result.refusals.failedRequests,
      'refused (final)': result.refusals.other,
    },
  ]);
  if (result.refusals.other > 0) {
    console.log(`  final refusals by code: ${JSON.stringify(result.refusalCodes)}`);
  }
  printTable(
    'The chains',
    result.verifyChain.map((v, i) => ({
      node: v.node,
      'final height': result.finalHeights[i] ?? '',
      'verify-chain': v.ok ? 'ok' : 'FAILED',
      output: v.output,
    })),
  );
  console.log(`  final chains agree: ${result.chainsAgree ? 'yes' : 'NO'}`);
  printTable(
    'Receivers (each included report of its own, exactly once)',
    result.receivers.map((r) => ({
      receiver: r.receiver,
      expected: r.expected,
      readings: r.readings,
      skipped: r.skipped,
      extra: r.extra,
      tampered: r.tampered,
      'contract results': r.contractResults ?? '-',
      'on chain': r.contractResultsOnChain ?? '-',
      ok: r.ok ? 'yes' : 'NO',
    })),
  );
  printTable('Throughput', [
    {
      'fault-free intake /s': result.faultFreeIntake,
      'intake after the last fault /s': result.tailIntake,
      'final reports /s (whole run)': result.finalReportsPerS,
      'contract lag after load s': result.contractLagSeconds ?? '-',
      'results final after load s': result.contractOnChainLagSeconds ?? '-',
      'worst after/fault-free': result.throughputAfterFaultRatio,
      'slot ms': slotMs,
      'load s': result.loadSeconds,
    },
  ]);
  if (result.unexpectedExits.length > 0) {
    console.log(`\n  processes that exited on their own: ${result.unexpectedExits.join(', ')}`);
  }
}
