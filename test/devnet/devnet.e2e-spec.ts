import { type ChildProcess, spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { Client } from 'pg';

import { repoRoot } from '@app/persistence';
import { adminUrl, testServerUrl } from '@app/testing';

jest.setTimeout(420_000);

/** What `npm run devnet` runs, with the environment given (the README's first command). */
function devnet(env: Record<string, string>, args: string[] = []): ChildProcess {
  return spawn(process.execPath, ['-r', '@swc-node/register', 'scripts/devnet.ts', ...args], {
    cwd: repoRoot(),
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function collect(child: ChildProcess): {
  out: () => string;
  err: () => string;
  exit: Promise<number | null>;
} {
  let out = '';
  let err = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { out: () => out, err: () => err, exit };
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

function answers(port: number): Promise<boolean> {
  return fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2_000) }).then(
    () => true,
    () => false,
  );
}

/** The ports a devnet of three nodes takes from `base` (scripts/devnet.ts). */
const portsFrom = (base: number) => [
  base,
  base + 1,
  base + 2,
  base + 100,
  base + 200,
  base + 201,
  base + 202,
  base + 300,
];

/** A base whose devnet ports are all free: between the tests' leased range and the ephemeral ports. */
async function freeBase(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const base = randomInt(31_000, 32_400);
    const free = await Promise.all(portsFrom(base).map(bindable));
    if (free.every(Boolean)) {
      return base;
    }
  }
  throw new Error('no free base port for the devnet');
}

describe('the devnet (npm run devnet)', () => {
  it('given PostgreSQL or Redis out of reach, should stop at once with one line that says how to start it and which setting to fix', async () => {
    const closed = await freeBase();
    const noPostgres = collect(
      devnet({ DEVNET_POSTGRES_URL: `postgresql://postgres@127.0.0.1:${closed}/postgres` }),
    );
    expect(await noPostgres.exit).toBe(1);
    expect(noPostgres.err()).toMatch(
      new RegExp(
        `cannot reach PostgreSQL at 127\\.0\\.0\\.1:${closed}/postgres \\(ECONNREFUSED\\): start it .* or fix DEVNET_POSTGRES_URL`,
      ),
    );

    const noRedis = collect(
      devnet({ DEVNET_POSTGRES_URL: testServerUrl(), REDIS_URL: `redis://127.0.0.1:${closed + 1}` }),
    );
    expect(await noRedis.exit).toBe(1);
    expect(noRedis.err()).toMatch(
      new RegExp(
        `cannot reach Redis at 127\\.0\\.0\\.1:${closed + 1}.*\\(ECONNREFUSED\\): start it .* or fix REDIS_URL`,
      ),
    );
    for (const run of [noPostgres, noRedis]) {
      expect(run.out()).not.toMatch(/node-1 http/);
    }

    const badPort = collect(devnet({ DEVNET_PORT: '80' }));
    expect(await badPort.exit).toBe(1);
    expect(badPort.err()).toMatch(/DEVNET_PORT must be a whole number from 1024 to 65000, not 80/);
  });

  it('given a fresh directory, should create its databases, run the consortium with its status line, and stop every process on Ctrl-C', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'cbsg-devnet-e2e-'));
    const base = await freeBase();
    // Named like the tests' own databases, so that a crashed run's are dropped by the next one.
    const prefix = `cbsg_test_${process.env.CBSG_TEST_RUN_ID ?? process.pid}_devnet`;
    const admin = new Client({ connectionString: adminUrl() });
    await admin.connect();
    const ourDatabases = async () =>
      (
        await admin.query<{ datname: string }>(
          'SELECT datname FROM pg_database WHERE datname LIKE $1 ORDER BY datname',
          [`${prefix}_%`],
        )
      ).rows.map((r) => r.datname);
    const child = devnet(
      {
        DEVNET_DIR: dir,
        DEVNET_PORT: String(base),
        DEVNET_DATABASE_PREFIX: prefix,
        DEVNET_POSTGRES_URL: testServerUrl(),
        REDIS_URL: 'redis://127.0.0.1:6379',
      },
      ['--meters', '6', '--rate', '6'],
    );
    const run = collect(child);
    try {
      // The status line, with reports final on all three nodes.
      const deadline = Date.now() + 300_000;
      let line: RegExpExecArray | null = null;
      while (Date.now() < deadline && !line) {
        const lines = run.out().split(/[\r\n]/);
        line =
          lines
            .map((l) =>
              /head\/final: node-1 (\d+)\/(\d+) {2}node-2 (\d+)\/(\d+) {2}node-3 (\d+)\/(\d+) {2}final reports (\d+)/.exec(
                l,
              ),
            )
            .filter((m) => m !== null && Number(m[7]) > 0 && [2, 4, 6].every((i) => Number(m[i]) > 0))
            .at(-1) ?? null;
        if (!line) {
          expect(child.exitCode).toBeNull();
          await new Promise((resolve) => setTimeout(resolve, 1_000));
        }
      }
      expect(line).not.toBeNull();
      expect(run.out()).toMatch(/receiver operator-billing http:\/\/127\.0\.0\.1:\d+/);
      expect(run.out()).toMatch(/admin key of node-1: cbsg_admin_/);
      // Its databases, made by itself: three nodes and three receivers.
      expect(await ourDatabases()).toEqual(
        [
          'node_1',
          'node_2',
          'node_3',
          'receiver_cc_analytics',
          'receiver_operator_billing',
          'receiver_supplier_maintenance',
        ].map((n) => `${prefix}_${n}`),
      );
      expect((await Promise.all(portsFrom(base).slice(0, 7).map(answers))).every(Boolean)).toBe(true);

      child.kill('SIGINT');
      expect(await run.exit).toBe(0);
      expect(run.out()).toMatch(/stopping the devnet/);
      // Nothing it started still listens.
      expect(await Promise.all(portsFrom(base).map(answers))).toEqual(portsFrom(base).map(() => false));
    } finally {
      if (child.exitCode === null) {
        child.kill('SIGKILL');
      }
      for (const name of await ourDatabases()) {
        await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      }
      await admin.end();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
