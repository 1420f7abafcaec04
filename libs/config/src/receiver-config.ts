import { z } from 'zod';

import { ConfigError } from './app-config';

/** A receiver's process (DESIGN.md section 5): one organisation's receiver, on its own database. */
const receiverSchema = z
  .object({
    /** Its registered receiver id (the key in RECEIVER_KEYSTORE must be that receiver's). */
    RECEIVER_ID: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'must be a receiver id'),
    RECEIVER_KEYSTORE: z.string().min(1),
    KEYSTORE_PASSPHRASE: z.string().min(8, 'must be at least 8 characters'),
    /** The accounting node it follows. */
    NODE_URL: z.url({ protocol: /^https?$/ }),
    /**
     * How long it waits at start for the node to confirm that ORGANISATION_ID registered it; past it,
     * it refuses to start.
     */
    NODE_WAIT_SECONDS: z.coerce.number().int().min(1).max(3_600).default(60),
    GENESIS_FILE: z.string().min(1),
    /**
     * Further nodes whose signed head digests this receiver keeps as an outside witness, comma-separated
     * (the node it follows is always one).
     */
    WITNESS_NODE_URLS: z
      .string()
      .transform((value, ctx) => {
        const urls = value
          .split(',')
          .map((u) => u.trim().replace(/\/$/, ''))
          .filter(Boolean);
        for (const url of urls) {
          if (!z.url({ protocol: /^https?$/ }).safeParse(url).success) {
            ctx.addIssue({ code: 'custom', message: `${url} is not an http(s) URL` });
          }
        }
        return urls;
      })
      .optional(),
    /** How often the head digests are collected. */
    WITNESS_INTERVAL_SECONDS: z.coerce.number().int().min(1).max(86_400).default(10),
    DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }),
    /** The first height it takes (the paper's L); later heights only, from its checkpoint on. */
    FROM_HEIGHT: z.coerce.number().int().min(1).default(1),
    /** Blocks asked for per request. */
    FOLLOW_BATCH_BLOCKS: z.coerce.number().int().min(1).max(500).default(100),
    /** Pause when it has caught up with the node's final height. */
    FOLLOW_POLL_MS: z.coerce.number().int().min(10).max(60_000).default(1_000),
    CRYPTO_WORKERS: z.coerce.number().int().min(1).max(64).optional(),
    HTTP_HOST: z.string().min(1).default('127.0.0.1'),
    HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(3200),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** The contract this receiver runs on each share it opens (the grid operator's Algorithm 1). */
    CONTRACT: z.enum(['grid-operator-feedback']).optional(),
    /**
     * The organisation that runs the receiver, and its keystore: it signs what the receiver publishes
     * (contract results, analyses) and its calls to the node, and only it may read the receiver's API.
     */
    ORGANISATION_ID: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'must be an organisation id'),
    ORGANISATION_KEYSTORE: z.string().min(1),
    /** Requests per second one API client may make. */
    API_RATE_LIMIT: z.coerce.number().int().min(1).max(1_000_000).default(200),
    /** With CONTRACT: the Redis of the contract, publication and notification queues (BullMQ). */
    REDIS_URL: z.url({ protocol: /^rediss?$/ }).optional(),
    QUEUE_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/)
      .default('cbsg-receiver'),
    /**
     * With CONTRACT: delivery attempts of a notification before it goes to the failed (dead-letter)
     * set, the first (made with the rest of its block) included.
     */
    NOTIFY_ATTEMPTS: z.coerce.number().int().min(2).max(50).default(8),
    /** Analyses this receiver publishes on the chain on a schedule, comma-separated (theft-suspects, device-report). */
    PUBLISH: z
      .string()
      .regex(/^\s*(theft-suspects|device-report)\s*(,\s*(theft-suspects|device-report)\s*)*$/, {
        error: 'must list theft-suspects and/or device-report, comma-separated',
      })
      .optional(),
    /** With PUBLISH: how often, in seconds (one publication per period across all of the receiver's processes). */
    PUBLISH_EVERY_SECONDS: z.coerce.number().int().min(1).max(604_800).default(3_600),
    /** With PUBLISH: the hours of readings each publication covers. */
    PUBLISH_WINDOW_HOURS: z.coerce.number().int().min(1).max(720).default(24),
    /**
     * A transaction the receiver put on the chain (a contract result, a publication) that is not in a
     * final block this long after a node accepted it is looked up on the node, and sent again if the
     * node no longer has it (its mempool dropped it unincluded).
     */
    RESEND_AFTER_SECONDS: z.coerce.number().int().min(1).max(86_400).default(60),
    /** How long a transaction of the receiver's is kept once final (then pruned), in hours. */
    SENT_RETENTION_HOURS: z.coerce.number().int().min(1).max(87_600).default(168),
  })
  .refine((e) => !e.CONTRACT || e.REDIS_URL, {
    error: 'CONTRACT needs REDIS_URL',
    path: ['CONTRACT'],
  })
  .refine((e) => !e.PUBLISH || e.REDIS_URL, {
    error: 'PUBLISH needs REDIS_URL (the schedule lives in Redis, shared by the processes)',
    path: ['PUBLISH'],
  });

export type PublicationSubject = 'theft-suspects' | 'device-report';

export interface ReceiverConfig {
  receiverId: string;
  keystoreFile: string;
  /** Never logged: the config object is not printed anywhere. */
  passphrase: string;
  nodeUrl: string;
  /** How long to wait at start for the node to confirm who registered the receiver. */
  nodeWaitMs: number;
  genesisFile: string;
  /** The nodes whose signed head digests are kept (the followed node first), and how often. */
  witness: { nodeUrls: string[]; intervalMs: number };
  databaseUrl: string;
  fromHeight: bigint;
  batchBlocks: number;
  pollMs: number;
  cryptoWorkers?: number;
  http: { host: string; port: number; rateLimitPerSecond: number };
  logLevel: string;
  /** Who runs the receiver: signs its publications and node calls, and alone reads its API. */
  organisation: { id: string; keystoreFile: string };
  contract?: {
    name: 'grid-operator-feedback';
    organisationId: string;
    organisationKeystore: string;
    redisUrl: string;
    queuePrefix: string;
    notifyAttempts: number;
  };
  /** Analyses published on a schedule (BullMQ job scheduler: one run per period for all processes). */
  publications?: {
    subjects: PublicationSubject[];
    everyMs: number;
    windowHours: number;
    redisUrl: string;
    queuePrefix: string;
  };
  /** The transactions it signed: looked up after resendAfterMs until final, pruned retentionMs after. */
  sent: { resendAfterMs: number; retentionMs: number };
}

export function parseReceiverConfig(env: Record<string, string | undefined>): ReceiverConfig {
  const parsed = receiverSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`));
  }
  const e = parsed.data;
  return {
    receiverId: e.RECEIVER_ID,
    keystoreFile: e.RECEIVER_KEYSTORE,
    passphrase: e.KEYSTORE_PASSPHRASE,
    nodeUrl: e.NODE_URL.replace(/\/$/, ''),
    nodeWaitMs: e.NODE_WAIT_SECONDS * 1_000,
    genesisFile: e.GENESIS_FILE,
    witness: {
      nodeUrls: [...new Set([e.NODE_URL.replace(/\/$/, ''), ...(e.WITNESS_NODE_URLS ?? [])])],
      intervalMs: e.WITNESS_INTERVAL_SECONDS * 1_000,
    },
    databaseUrl: e.DATABASE_URL,
    fromHeight: BigInt(e.FROM_HEIGHT),
    batchBlocks: e.FOLLOW_BATCH_BLOCKS,
    pollMs: e.FOLLOW_POLL_MS,
    ...(e.CRYPTO_WORKERS === undefined ? {} : { cryptoWorkers: e.CRYPTO_WORKERS }),
    http: { host: e.HTTP_HOST, port: e.HTTP_PORT, rateLimitPerSecond: e.API_RATE_LIMIT },
    logLevel: e.LOG_LEVEL,
    organisation: { id: e.ORGANISATION_ID, keystoreFile: e.ORGANISATION_KEYSTORE },
    ...(e.CONTRACT
      ? {
          contract: {
            name: e.CONTRACT,
            organisationId: e.ORGANISATION_ID,
            organisationKeystore: e.ORGANISATION_KEYSTORE,
            redisUrl: e.REDIS_URL!,
            queuePrefix: e.QUEUE_PREFIX,
            notifyAttempts: e.NOTIFY_ATTEMPTS,
          },
        }
      : {}),
    ...(e.PUBLISH
      ? {
          publications: {
            subjects: [...new Set(e.PUBLISH.split(',').map((s) => s.trim() as PublicationSubject))],
            everyMs: e.PUBLISH_EVERY_SECONDS * 1_000,
            windowHours: e.PUBLISH_WINDOW_HOURS,
            redisUrl: e.REDIS_URL!,
            queuePrefix: e.QUEUE_PREFIX,
          },
        }
      : {}),
    sent: { resendAfterMs: e.RESEND_AFTER_SECONDS * 1_000, retentionMs: e.SENT_RETENTION_HOURS * 3_600_000 },
  };
}

export function loadReceiverConfig(overrides: Record<string, string | undefined> = {}): ReceiverConfig {
  return parseReceiverConfig({ ...process.env, ...overrides });
}
