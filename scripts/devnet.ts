// npm run devnet [-- --meters 50] [-- --rate 25] [-- --speed 96] [-- --keep]
//
// A development consortium on this machine: `cbsg setup` into .devnet/ (once), a fresh database,
// an accounting node (http://127.0.0.1:3000) and the control center (http://127.0.0.1:3100) as
// separate processes, receivers and a simulated fleet enrolled over the public APIs, and the fleet
// reporting continuously (simulated time runs --speed times faster than the clock). A status line
// every few seconds; Ctrl-C stops everything cleanly.
import { access, mkdir, readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import path from 'node:path';

import { Client, Pool } from 'pg';
import { Redis } from 'ioredis';

import { AdminKeyRepository } from '@app/auth';
import {
  CONSORTIUM_FILES,
  createConsortium,
  readOrganisationKeys,
  writeConsortium,
} from '@app/control-center';
import { initCrypto, SystemParams, writeKeystoreFile } from '@app/crypto';
import {
  enrolMeters,
  enrolReceiver,
  type EnrolmentContext,
  ensureConsoleBuilt,
  NodeNetwork,
  prepareDatabase,
  type RunningService,
  spreadDelegates,
  startService,
} from '@app/devnet';
import type { ChainStatus } from '@app/chain';
import { loadGenesis } from '@app/ledger';
import { FleetSimulator, NodeSubmitter, STANDARD_DIMENSIONS, standardPolicies } from '@app/meter-sdk';
import { describeConnectionError, repoRoot } from '@app/persistence';

import { DEV_ORGANISATIONS, devNodes } from '../apps/cli/src/commands/setup.command';

interface Options {
  nodes: number;
  meters: number;
  rate: number;
  speed: number;
  keep: boolean;
}

function parseOptions(argv: string[]): Options {
  const options: Options = { nodes: 3, meters: 50, rate: 25, speed: 96, keep: false };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i]!;
    const value = () => {
      const v = Number(argv[++i]);
      if (!Number.isFinite(v) || v <= 0) {
        throw new Error(`${arg} needs a positive number`);
      }
      return v;
    };
    if (arg === '--nodes') {
      options.nodes = Math.floor(value());
    } else if (arg === '--meters') {
      options.meters = Math.floor(value());
    } else if (arg === '--rate') {
      options.rate = value();
    } else if (arg === '--speed') {
      options.speed = value();
    } else if (arg === '--keep') {
      options.keep = true;
    } else if (arg === '--help' || arg === '-h') {
      process.stdout.write(
        'npm run devnet [-- --nodes N] [--meters N] [--rate REPORTS_PER_S] [--speed SIM_TIME_FACTOR] [--keep]\n' +
          'environment: DEVNET_POSTGRES_URL (a database on the server to use; default postgresql://postgres@127.0.0.1:5432/postgres),\n' +
          '  REDIS_URL (default redis://127.0.0.1:6379), CBSG_PASSPHRASE (of the keystores), DEVNET_DIR (default .devnet),\n' +
          '  DEVNET_PORT (first node port, default 3000; control center +100, receivers +200), DEVNET_DATABASE_PREFIX (default cbsg_devnet)\n',
      );
      process.exit(0);
    } else {
      throw new Error(`unknown option ${arg} (try --help)`);
    }
  }
  return options;
}

// Where it runs, all from the environment (README, "The devnet"): the defaults suit one devnet per machine.
const POSTGRES = process.env.DEVNET_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PASSPHRASE = process.env.CBSG_PASSPHRASE ?? 'cbsg-devnet-passphrase';
/** The nodes listen from this port on, the control center 100 above, the receivers 200 above. */
const FIRST_NODE_PORT = Number(process.env.DEVNET_PORT ?? 3000);
const CC_PORT = FIRST_NODE_PORT + 100;
const RECEIVER_PORT = FIRST_NODE_PORT + 200;
const PHONES_PORT = FIRST_NODE_PORT + 300;
/** Its databases are named with this prefix (and its queues with the same words). */
const DATABASE_PREFIX = process.env.DEVNET_DATABASE_PREFIX ?? 'cbsg_devnet';

function checkEnvironment(): void {
  if (!Number.isInteger(FIRST_NODE_PORT) || FIRST_NODE_PORT < 1024 || FIRST_NODE_PORT > 65_000) {
    throw new Error(`DEVNET_PORT must be a whole number from 1024 to 65000, not ${process.env.DEVNET_PORT}`);
  }
  if (!/^[a-z][a-z0-9_]{0,39}$/.test(DATABASE_PREFIX)) {
    throw new Error(
      'DEVNET_DATABASE_PREFIX must be lower-case letters, digits and _ (at most 40), starting with a letter',
    );
  }
}
const RECEIVERS = {
  controlCenter: 'cc-analytics',
  gridOperator: 'operator-billing',
  equipmentSupplier: 'supplier-maintenance',
};
/** The organisation that registers and runs each receiver. */
const RECEIVER_OWNERS: Record<string, 'control-center' | 'grid-operator' | 'equipment-supplier'> = {
  [RECEIVERS.controlCenter]: 'control-center',
  [RECEIVERS.gridOperator]: 'grid-operator',
  [RECEIVERS.equipmentSupplier]: 'equipment-supplier',
};

async function checkServices(): Promise<void> {
  const pg = new Client({ connectionString: POSTGRES, connectionTimeoutMillis: 3_000 });
  try {
    await pg.connect();
  } catch (error) {
    throw new Error(describeConnectionError('PostgreSQL', POSTGRES, error, 'DEVNET_POSTGRES_URL'), {
      cause: error,
    });
  } finally {
    await pg.end().catch(() => undefined);
  }
  const redis = new Redis(REDIS_URL, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
  });
  let cause: unknown;
  redis.on('error', (e) => (cause ??= e));
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    throw new Error(describeConnectionError('Redis', REDIS_URL, cause ?? error), { cause: error });
  } finally {
    redis.disconnect();
  }
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  checkEnvironment();
  await checkServices();
  // Node-1 serves the admin console: build it first if this checkout has no build yet.
  ensureConsoleBuilt((line) => process.stdout.write(`${line}\n`));
  await initCrypto();
  const dir = path.resolve(repoRoot(), process.env.DEVNET_DIR ?? '.devnet');
  await mkdir(dir, { recursive: true });
  const genesisFile = path.join(dir, CONSORTIUM_FILES.genesis);
  let fresh = !options.keep;
  if (!(await exists(genesisFile))) {
    process.stdout.write(`setting up a development consortium in ${dir}\n`);
    const consortium = await createConsortium({
      chainId: 'cbsg-devnet',
      organisations: DEV_ORGANISATIONS,
      delegates: Array.from({ length: 21 }, (_, i) => ({
        id: `delegate-${String(i + 1).padStart(3, '0')}`,
        organisation: DEV_ORGANISATIONS[i % 3]!.id,
      })),
      nodes: devNodes(options.nodes),
      producers: 21,
      slotMs: 2_000,
    });
    await writeConsortium(consortium, dir, PASSPHRASE);
    fresh = true;
  }
  if (!process.env.CBSG_PASSPHRASE) {
    process.stdout.write(
      'note: the devnet keystores use a fixed development passphrase (set CBSG_PASSPHRASE to choose one)\n',
    );
  }
  const genesis = loadGenesis(JSON.parse(await readFile(genesisFile, 'utf8')) as unknown);
  const nodeIds = genesis.document.nodes.map((n) => n.id);
  const delegateIds = genesis.document.delegates.map((d) => d.id);
  const nodeSpecs = nodeIds.map((id, i) => {
    const url = new URL(POSTGRES);
    url.pathname = `/${DATABASE_PREFIX}_${id.replace(/-/g, '_')}`;
    // The delegates are spread over the nodes: node i produces for delegates i, i+n, i+2n...
    const delegates = spreadDelegates(delegateIds, nodeIds.length, i);
    return { id, databaseUrl: url.toString(), port: FIRST_NODE_PORT + i, delegates };
  });

  const logDir = path.join(dir, 'logs');
  const services: RunningService[] = [];
  const network = NodeNetwork.create({
    consortiumDir: dir,
    passphrase: PASSPHRASE,
    nodes: nodeSpecs,
    redisUrl: REDIS_URL,
    logDir,
    queuePrefix: DATABASE_PREFIX.replace(/_/g, '-'),
    freshDatabases: fresh,
  });
  let stopping = false;
  const stopAll = async (code: number) => {
    if (stopping) {
      return;
    }
    stopping = true;
    process.stdout.write('\nstopping the devnet...\n');
    for (const service of [...services].reverse()) {
      await service.stop();
    }
    await network.stop();
    process.exit(code);
  };
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));
  process.on('SIGHUP', () => void stopAll(0));
  // Last resort (an uncaught error, process.exit elsewhere): never leave the services running.
  process.on('exit', () => {
    network.killNow();
    for (const service of services) {
      if (service.running) {
        service.child.kill('SIGKILL');
      }
    }
  });

  await network.start();
  const nodes = network.nodes;
  const nodeUrl = nodes[0]!.url;
  const ccUrl = `http://127.0.0.1:${CC_PORT}`;
  services.push(
    await startService({
      name: 'control-center',
      entry: 'apps/control-center/src/main.ts',
      env: {
        NODE_URL: nodeUrl,
        GENESIS_FILE: genesisFile,
        CC_KEYS_DIR: dir,
        CC_PASSPHRASE: PASSPHRASE,
        HTTP_PORT: String(CC_PORT),
        LOG_LEVEL: 'info',
      },
      readyUrl: `${ccUrl}/openapi.json`,
      logDir,
    }),
  );
  const watchExit = (service: RunningService) =>
    void service.whenExited().then((code) => {
      if (!stopping) {
        process.stderr.write(`\n${service.spec.name} exited (${code}); see ${service.logFile}\n`);
        void stopAll(1);
      }
    });
  [...services, ...nodes.map((n) => n.process!)].forEach(watchExit);
  for (const node of nodes) {
    process.stdout.write(`${node.id} ${node.url}  (API: ${node.url}/docs, metrics: ${node.url}/metrics)\n`);
  }
  // An admin key of node-1 for this session (the console's login; `cbsg admin-key` manages them).
  const adminPool = new Pool({ connectionString: nodes[0]!.spec.databaseUrl, max: 1 });
  const admin = await new AdminKeyRepository(adminPool)
    .create(`devnet ${new Date().toISOString()}`)
    .finally(() => adminPool.end());
  process.stdout.write(`admin key of ${nodes[0]!.id}: ${admin.key}\n`);
  process.stdout.write(`console ${nodes[0]!.url}/console  (sign in with the admin key above)\n`);
  process.stdout.write(`control center ${ccUrl}\nlogs   ${logDir}\n`);

  const ctx: EnrolmentContext = {
    nodeUrl,
    ccUrl,
    chainId: genesis.document.chainId,
    params: SystemParams.fromJSON(genesis.document.systemParams),
    organisationKeys: await readOrganisationKeys(dir, PASSPHRASE),
  };
  const simulator = new FleetSimulator({
    seed: 2019,
    meters: options.meters,
    thieves: Math.max(1, Math.round(options.meters / 60)),
    tampered: 1,
    faulty: Math.max(1, Math.round(options.meters / 40)),
  });
  const policies = standardPolicies(RECEIVERS);
  if (fresh) {
    for (const id of Object.values(RECEIVERS)) {
      const organisation = RECEIVER_OWNERS[id]!;
      const holder = await enrolReceiver(ctx, {
        id,
        organisation,
        role: organisation,
      });
      // The receiver's own key, for the receiver processes (issue 6) to open their shares.
      await writeKeystoreFile(
        path.join(dir, 'keys', `receiver-${id}.keystore.json`),
        { kind: 'receiver', id, publicKey: holder.keys.publicKey, key: holder.keys.secret },
        PASSPHRASE,
      );
    }
  }
  // The owners' phones: a local endpoint that takes the contracts' notifications and counts them.
  let notified = 0;
  const phones = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      notified += 1;
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => phones.listen(PHONES_PORT, '127.0.0.1', resolve));
  phones.unref();
  // One receiver process per organisation, each on its own database, following a node of its choice.
  for (const [i, id] of Object.values(RECEIVERS).entries()) {
    const url = new URL(POSTGRES);
    url.pathname = `/${DATABASE_PREFIX}_receiver_${id.replace(/-/g, '_')}`;
    await prepareDatabase(url.toString(), { fresh });
    const receiver = await startService({
      name: `receiver-${id}`,
      entry: 'apps/receiver/src/main.ts',
      env: {
        RECEIVER_ID: id,
        RECEIVER_KEYSTORE: path.join(dir, 'keys', `receiver-${id}.keystore.json`),
        KEYSTORE_PASSPHRASE: PASSPHRASE,
        NODE_URL: nodes[i % nodes.length]!.url,
        // Every node's signed head digest is kept: a node that rewrites its history is caught.
        WITNESS_NODE_URLS: nodes.map((n) => n.url).join(','),
        GENESIS_FILE: genesisFile,
        DATABASE_URL: url.toString(),
        HTTP_PORT: String(RECEIVER_PORT + i),
        CRYPTO_WORKERS: '1',
        LOG_LEVEL: 'info',
        ORGANISATION_ID: RECEIVER_OWNERS[id]!,
        ORGANISATION_KEYSTORE: path.join(dir, CONSORTIUM_FILES.organisationKey(RECEIVER_OWNERS[id]!)),
        // The grid operator runs its feedback contract (Algorithm 1) on every share it opens.
        ...(id === RECEIVERS.gridOperator
          ? {
              CONTRACT: 'grid-operator-feedback',
              REDIS_URL,
              QUEUE_PREFIX: `${DATABASE_PREFIX.replace(/_/g, '-')}-receiver`,
            }
          : {}),
        // The control center and the supplier publish their analyses on the chain every 10 minutes.
        ...(id === RECEIVERS.controlCenter || id === RECEIVERS.equipmentSupplier
          ? {
              PUBLISH: id === RECEIVERS.controlCenter ? 'theft-suspects' : 'device-report',
              PUBLISH_EVERY_SECONDS: '600',
              REDIS_URL,
              QUEUE_PREFIX: `${DATABASE_PREFIX.replace(/_/g, '-')}-receiver-${id}`,
            }
          : {}),
      },
      readyUrl: `http://127.0.0.1:${RECEIVER_PORT + i}/health/live`,
      logDir,
    });
    services.push(receiver);
    watchExit(receiver);
    process.stdout.write(
      `receiver ${id} http://127.0.0.1:${RECEIVER_PORT + i}  (/status, /readings, /tampered)\n`,
    );
  }
  // A meter's secret key lives only in the process that made it: on a kept chain, this run's fleet
  // is enrolled under new ids (the earlier fleets stay on the chain, silent).
  const fleetPrefix = fresh ? '' : `run-${Date.now().toString(36)}-`;
  process.stdout.write(`enrolling ${options.meters} simulated meters...\n`);
  const fleet = await enrolMeters(
    ctx,
    simulator.meters.map((meter, i) => ({
      meterId: `${fleetPrefix}${meter.meterId}`,
      registrar: 'grid-operator',
      dimensions: STANDARD_DIMENSIONS,
      policy: policies[i % policies.length]!,
      epoch: { maxReports: 96, maxAgeMs: 24 * 3_600_000 },
      owner: { name: `owner of ${meter.meterId}`, notifyUrl: `http://127.0.0.1:${PHONES_PORT}/notify` },
      location: meter.location,
    })),
    {
      onProgress: (done) => process.stdout.write(`\r  ${done}/${options.meters} meters active`),
    },
  );
  process.stdout.write('\n');

  // Report continuously: simulated time runs `speed` times faster, each meter every interval.
  // Each meter sends to "the nearest node" (here: one of them, by meter).
  const submitters = nodes.map((n) => new NodeSubmitter(n.url));
  const simStart = Date.now();
  const simulatedNow = () => simStart + (Date.now() - simStart) * options.speed;
  let accepted = 0;
  let refused = 0;
  let next = 0;
  const tickMs = 1_000;
  setInterval(() => {
    const due = Math.max(1, Math.round((options.rate * tickMs) / 1000));
    const batch = [];
    for (let k = 0; k < due; k += 1) {
      const index = next++ % fleet.length;
      const meter = fleet[index]!;
      const simulatedId = simulator.meters[index]!.meterId;
      const at = simulatedNow();
      if (simulator.isReporting(simulatedId, at)) {
        batch.push(meter.reporter.report(simulator.reading(simulatedId, at), Date.now()));
      }
    }
    if (batch.length > 0) {
      void submitters[next % submitters.length]!.submitBatch(batch).then((result) => {
        accepted += Number(result.body.accepted ?? 0);
        refused += Number(result.body.rejected ?? 0);
      });
    }
  }, tickMs).unref();
  // The status line: each node's head/final height, and the chain's pace over the last interval.
  let lastFinalReports = 0;
  let lastStatusAt = Date.now();
  setInterval(() => {
    void Promise.all(
      nodes.map((n) =>
        fetch(`${n.url}/chain/status`)
          .then((r) => r.json() as Promise<ChainStatus>)
          .catch(() => undefined),
      ),
    ).then((statuses) => {
      const heights = statuses.map((st, i) =>
        st ? `${nodes[i]!.id} ${st.head.height}/${st.final.height}` : `${nodes[i]!.id} down`,
      );
      const first = statuses.find((st) => st !== undefined);
      const now = Date.now();
      const finalReports = first?.totals.reports ?? lastFinalReports;
      const rate = ((finalReports - lastFinalReports) * 1000) / (now - lastStatusAt);
      lastFinalReports = finalReports;
      lastStatusAt = now;
      process.stdout.write(
        `\r${new Date().toISOString().slice(11, 19)}  head/final: ${heights.join('  ')}  ` +
          `final reports ${finalReports} (${rate.toFixed(0)}/s)  missed slots ${first?.totals.missedSlots ?? '?'}  ` +
          `accepted ${accepted} refused ${refused}  notified ${notified}  simulated ${new Date(simulatedNow()).toISOString().slice(0, 16)}   `,
      );
    });
  }, 2_000);
}

main().catch((error: unknown) => {
  process.stderr.write(`devnet: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
