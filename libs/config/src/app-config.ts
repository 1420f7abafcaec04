import { existsSync } from 'node:fs';

import { z } from 'zod';

/**
 * The only place that reads process.env (STYLE.md 2.6). Every variable, its default and its meaning:
 * README, "Configuration".
 */
const postgresUrl = z
  .string({ error: 'is required (for example postgresql://127.0.0.1:5432/cbsg)' })
  .refine(
    (value) => /^postgres(ql)?:\/\/[^/\s]+\/[A-Za-z0-9_-]+(\?.*)?$/.test(value) && URL.canParse(value),
    {
      error: 'must be a postgresql://host:port/database URL',
    },
  );

const redisUrl = z
  .string({ error: 'is required (for example redis://127.0.0.1:6379)' })
  .refine((value) => /^rediss?:\/\/[^\s]+$/.test(value) && URL.canParse(value), {
    error: 'must be a redis://host:port URL',
  });

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  DATABASE_URL: postgresUrl,
  DATABASE_POOL_SIZE: int(1, 200).default(10),
  REDIS_URL: redisUrl,
  /** Prefix of every BullMQ key, so that several processes or test runs can share one Redis. */
  QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9:_-]{1,64}$/)
    .default('cbsg'),
  HTTP_HOST: z.string().min(1).default('127.0.0.1'),
  HTTP_PORT: int(0, 65535).default(3000),
  /** Requests per second one API client (an organisation, an admin key, an address) may make. */
  API_RATE_LIMIT: int(1, 1_000_000).default(200),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Pretty, coloured logs for people; JSON lines otherwise. */
  LOG_PRETTY: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
  OUTBOX_POLL_MS: int(10, 60_000).default(1_000),
  PROJECTION_POLL_MS: int(10, 60_000).default(1_000),
  // Under load every append wakes the projections; one step per this many ms at most takes them all.
  PROJECTION_MIN_INTERVAL_MS: int(0, 10_000).default(250),
  /** How long to wait for Postgres and Redis at start-up before giving up with a clear message. */
  STARTUP_TIMEOUT_MS: int(100, 120_000).default(5_000),
  /** The consortium's genesis document (written by `cbsg setup`). */
  GENESIS_FILE: z.string().min(1).optional(),
  /** This node's name among its peers (logs, metrics, signed head digests). */
  NODE_ID: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/)
    .default('node-1'),
  /** How old a transaction's or report's timestamp may be on arrival. */
  ACCEPT_WINDOW_MS: int(1_000, 7 * 24 * 3_600_000).default(15 * 60_000),
  /** Clock skew tolerated into the future. */
  FUTURE_SKEW_MS: int(0, 3_600_000).default(30_000),
  /** Reports waiting for a block beyond which intake answers 503 (back-pressure). */
  MEMPOOL_MAX_REPORTS: int(1, 10_000_000).default(200_000),
  /** Reports waiting for verification beyond which intake answers 429. */
  VERIFY_QUEUE_MAX: int(1, 1_000_000).default(20_000),
  /** Worker threads for report verification (0: one per core). */
  CRYPTO_WORKERS: int(0, 64).default(0),
  /** This node's keystore (its identity among the nodes: it signs its messages and head digests). */
  NODE_KEYSTORE: z.string().min(1).optional(),
  /** Keystores of the delegates this node produces blocks for, comma-separated (none: a validator only). */
  DELEGATE_KEYSTORES: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  /** Passphrase of the node's and the delegates' keystores. Never logged. */
  KEYSTORE_PASSPHRASE: z.string().min(8, 'must be at least 8 characters').optional(),
  /** The other nodes: comma-separated id=url (node-2=http://10.0.0.2:3000,...). */
  PEERS: z
    .string()
    .default('')
    .transform((v, ctx) => {
      const peers: Array<{ id: string; url: string }> = [];
      for (const entry of v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)) {
        const match = /^([A-Za-z0-9][A-Za-z0-9._-]{0,63})=(https?:\/\/\S+)$/.exec(entry);
        if (!match) {
          ctx.addIssue({ code: 'custom', message: `"${entry}" is not id=http(s)://host:port` });
          return z.NEVER;
        }
        peers.push({ id: match[1]!, url: match[2]!.replace(/\/$/, '') });
      }
      return peers;
    }),
  /** Largest number of transactions (reports included) a produced block takes. */
  MAX_BLOCK_TRANSACTIONS: int(1, 100_000).default(5_000),
  /** Slots since the final tip at which a node turns meters away: finality has stalled (0: never). */
  INTAKE_HOLD_FINALITY_LAG_SLOTS: int(0, 1_000_000).default(20),
});

export interface AppConfig {
  env: 'development' | 'test' | 'production';
  database: { url: string; poolSize: number };
  redis: { url: string; queuePrefix: string };
  http: { host: string; port: number; rateLimitPerSecond: number };
  log: { level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'; pretty: boolean };
  outbox: { pollMs: number };
  projections: { pollMs: number; minWakeIntervalMs: number };
  startupTimeoutMs: number;
  chain: {
    genesisFile?: string;
    nodeId: string;
    nodeKeystore?: string;
    delegateKeystores: string[];
    keystorePassphrase?: string;
    peers: Array<{ id: string; url: string }>;
    maxBlockTransactions: number;
    intakeHoldFinalityLagSlots: number;
  };
  intake: {
    acceptWindowMs: number;
    futureSkewMs: number;
    mempoolMaxReports: number;
    verifyQueueMax: number;
    cryptoWorkers: number;
  };
}

/** A configuration that cannot run: the message is one line naming every bad variable. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration: ${problems.join('; ')}`);
    this.name = 'ConfigError';
  }
}

export function parseAppConfig(env: Record<string, string | undefined>): AppConfig {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`));
  }
  const e = parsed.data;
  return {
    env: e.NODE_ENV,
    database: { url: e.DATABASE_URL, poolSize: e.DATABASE_POOL_SIZE },
    redis: { url: e.REDIS_URL, queuePrefix: e.QUEUE_PREFIX },
    http: { host: e.HTTP_HOST, port: e.HTTP_PORT, rateLimitPerSecond: e.API_RATE_LIMIT },
    log: { level: e.LOG_LEVEL, pretty: e.LOG_PRETTY },
    outbox: { pollMs: e.OUTBOX_POLL_MS },
    projections: { pollMs: e.PROJECTION_POLL_MS, minWakeIntervalMs: e.PROJECTION_MIN_INTERVAL_MS },
    startupTimeoutMs: e.STARTUP_TIMEOUT_MS,
    chain: {
      genesisFile: e.GENESIS_FILE,
      nodeId: e.NODE_ID,
      nodeKeystore: e.NODE_KEYSTORE,
      delegateKeystores: e.DELEGATE_KEYSTORES,
      keystorePassphrase: e.KEYSTORE_PASSPHRASE,
      peers: e.PEERS,
      maxBlockTransactions: e.MAX_BLOCK_TRANSACTIONS,
      intakeHoldFinalityLagSlots: e.INTAKE_HOLD_FINALITY_LAG_SLOTS,
    },
    intake: {
      acceptWindowMs: e.ACCEPT_WINDOW_MS,
      futureSkewMs: e.FUTURE_SKEW_MS,
      mempoolMaxReports: e.MEMPOOL_MAX_REPORTS,
      verifyQueueMax: e.VERIFY_QUEUE_MAX,
      cryptoWorkers: e.CRYPTO_WORKERS,
    },
  };
}

/**
 * Reads the process environment; a `.env` file in the working directory fills in what the
 * environment does not set (development convenience; never commit one).
 */
export function loadAppConfig(overrides: Record<string, string | undefined> = {}): AppConfig {
  if (existsSync('.env')) {
    process.loadEnvFile('.env');
  }
  return parseAppConfig({ ...process.env, ...overrides });
}
