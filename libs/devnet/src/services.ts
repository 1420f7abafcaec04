import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, existsSync, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';

import { Client } from 'pg';

import { ensureDatabase, migrate, migrationsDir, repoRoot } from '@app/persistence';

/**
 * Running the product's processes for the devnet, benchmarks and multi-process tests: each service is
 * a real child process (node, control center...), its output kept in a log file, its readiness
 * awaited over HTTP, and stopped with SIGTERM (SIGKILL after a grace period, or on demand).
 */
export interface ServiceSpec {
  name: string;
  /** App entry relative to the repository: apps/node/src/main.ts. */
  entry: string;
  env: Record<string, string>;
  /** URL answering 2xx once the service is ready. */
  readyUrl: string;
  logDir: string;
  /** Extra arguments for node itself (--cpu-prof, --max-old-space-size...). */
  nodeArgs?: string[];
}

export class RunningService {
  private exited: Promise<number | null>;

  constructor(
    readonly spec: ServiceSpec,
    readonly child: ChildProcess,
    private readonly log: WriteStream,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get logFile(): string {
    return path.join(this.spec.logDir, `${this.spec.name}.log`);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) {
      return;
    }
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
    this.log.end();
  }

  /** A crash, as tests of faults need it: no chance to flush or say goodbye. */
  async kill(): Promise<void> {
    if (!this.running) {
      return;
    }
    this.child.kill('SIGKILL');
    await this.exited;
    this.log.end();
  }

  whenExited(): Promise<number | null> {
    return this.exited;
  }
}

/** Runs TypeScript entries through @swc-node/register, or the built JavaScript when `dist` exists and CBSG_USE_DIST=1. */
function commandFor(entry: string): { args: string[] } {
  const root = repoRoot();
  const built = path.join(root, 'dist', entry.replace(/\.ts$/, '.js'));
  if (process.env.CBSG_USE_DIST === '1' && existsSync(built)) {
    return { args: [built] };
  }
  return { args: ['-r', '@swc-node/register', path.join(root, entry)] };
}

export async function startService(
  spec: ServiceSpec,
  options: { timeoutMs?: number } = {},
): Promise<RunningService> {
  await mkdir(spec.logDir, { recursive: true });
  const log = createWriteStream(path.join(spec.logDir, `${spec.name}.log`), { flags: 'a' });
  const { args } = commandFor(spec.entry);
  const child = spawn(process.execPath, [...(spec.nodeArgs ?? []), ...args], {
    cwd: repoRoot(),
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...spec.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(log, { end: false });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    log.write(chunk);
  });
  const service = new RunningService(spec, child, log);
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  for (;;) {
    if (!service.running) {
      throw new Error(
        `${spec.name} exited during start-up: ${stderr.trim().split('\n').slice(-3).join(' | ') || 'no output'}`,
      );
    }
    try {
      const response = await fetch(spec.readyUrl);
      if (response.ok) {
        return service;
      }
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await service.kill();
      throw new Error(
        `${spec.name} was not ready at ${spec.readyUrl} within ${options.timeoutMs ?? 60_000} ms (log: ${service.logFile})`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Drops (if asked) and creates a database, then migrates it. */
export async function prepareDatabase(url: string, options: { fresh?: boolean } = {}): Promise<void> {
  if (options.fresh) {
    const admin = new URL(url);
    const name = admin.pathname.slice(1);
    admin.pathname = '/postgres';
    const client = new Client({ connectionString: admin.toString() });
    await client.connect();
    try {
      await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    } finally {
      await client.end();
    }
  }
  await ensureDatabase(url);
  await migrate(url, migrationsDir());
}
