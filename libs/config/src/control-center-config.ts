import { z } from 'zod';

import { ConfigError } from './app-config';

/** The control center's process: stateless apart from its keystores (README, "Configuration"). */
const ccSchema = z.object({
  /** The accounting node the CC submits its transactions to and reads registrations from. */
  NODE_URL: z.url({ protocol: /^https?$/ }),
  GENESIS_FILE: z.string().min(1),
  /** Directory written by `cbsg setup` (keys/cc-master.keystore.json, keys/organisation-<cc>.keystore.json). */
  CC_KEYS_DIR: z.string().min(1),
  /** Passphrase of the CC's keystores. */
  CC_PASSPHRASE: z.string().min(8, 'must be at least 8 characters'),
  HTTP_HOST: z.string().min(1).default('127.0.0.1'),
  HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(3100),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** How old a partial-key request's timestamp may be. */
  REQUEST_WINDOW_MS: z.coerce.number().int().min(1_000).max(3_600_000).default(300_000),
});

export interface ControlCenterConfig {
  nodeUrl: string;
  genesisFile: string;
  keysDir: string;
  /** Never logged: the config object is not printed anywhere. */
  passphrase: string;
  http: { host: string; port: number };
  logLevel: string;
  requestWindowMs: number;
}

export function parseControlCenterConfig(env: Record<string, string | undefined>): ControlCenterConfig {
  const parsed = ccSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.')} ${issue.message}`));
  }
  const e = parsed.data;
  return {
    nodeUrl: e.NODE_URL.replace(/\/$/, ''),
    genesisFile: e.GENESIS_FILE,
    keysDir: e.CC_KEYS_DIR,
    passphrase: e.CC_PASSPHRASE,
    http: { host: e.HTTP_HOST, port: e.HTTP_PORT },
    logLevel: e.LOG_LEVEL,
    requestWindowMs: e.REQUEST_WINDOW_MS,
  };
}

export function loadControlCenterConfig(
  overrides: Record<string, string | undefined> = {},
): ControlCenterConfig {
  return parseControlCenterConfig({ ...process.env, ...overrides });
}
