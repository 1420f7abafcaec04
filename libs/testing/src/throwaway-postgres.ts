import { execFile, execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * A PostgreSQL cluster of a test's (or the soak's) own: initdb into a temporary directory, its own
 * port, started and restarted with pg_ctl, so that a fault test can restart Postgres under a node
 * without touching the shared server on 5432. Trust authentication on 127.0.0.1, user `postgres`.
 *
 * Postgres refuses to run as root: when this process is root, the cluster belongs to the `postgres`
 * system user and every pg_ctl call runs as that user (runuser).
 */
export class ThrowawayPostgres {
  private started = false;

  private constructor(
    readonly port: number,
    readonly dataDir: string,
    private readonly asUser: string | undefined,
    private readonly settings: Readonly<Record<string, string>>,
  ) {}

  /**
   * initdb into a fresh temporary directory, then start on `port`, with server `settings` (`-c`
   * name=value, kept across restarts), for example shared_preload_libraries.
   */
  static async create(
    port: number,
    settings: Readonly<Record<string, string>> = {},
  ): Promise<ThrowawayPostgres> {
    const root = process.getuid?.() === 0;
    const dataDir = mkdtempSync(path.join(tmpdir(), 'cbsg-pg-'));
    if (root) {
      const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
      chownSync(dataDir, uid, gid);
    }
    const cluster = new ThrowawayPostgres(port, dataDir, root ? 'postgres' : undefined, settings);
    try {
      await cluster.pg('initdb', ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8']);
      await cluster.start();
    } catch (error) {
      cluster.destroyNow();
      throw error;
    }
    return cluster;
  }

  /** postgresql://postgres@127.0.0.1:<port>/<database> */
  url(database = 'postgres'): string {
    return `postgresql://postgres@127.0.0.1:${this.port}/${database}`;
  }

  /** The postmaster's process id, from its pid file (undefined when it is not running). */
  get pid(): number | undefined {
    try {
      const first = readFileSync(path.join(this.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0];
      const pid = Number(first);
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  async start(): Promise<void> {
    await this.pg('pg_ctl', [
      '-D',
      this.dataDir,
      '-l',
      path.join(this.dataDir, 'server.log'),
      '-o',
      [
        `-p ${this.port} -c listen_addresses=127.0.0.1 -k ${this.dataDir} -c max_connections=200`,
        ...Object.entries(this.settings).map(([name, value]) => `-c ${name}=${value}`),
      ].join(' '),
      '-w',
      '-t',
      '60',
      'start',
    ]);
    this.started = true;
  }

  /**
   * A restart as an operator does it (`pg_ctl restart -m fast`): every connection is cut, the server
   * is down for a moment, and comes back with its data.
   */
  async restart(): Promise<void> {
    // -l again: without it the restarted server would write to pg_ctl's output and hold it open.
    await this.pg('pg_ctl', [
      '-D',
      this.dataDir,
      '-l',
      path.join(this.dataDir, 'server.log'),
      '-m',
      'fast',
      '-w',
      '-t',
      '60',
      'restart',
    ]);
    this.started = true;
  }

  async stop(): Promise<void> {
    if (!this.started) {
      return;
    }
    this.started = false;
    await this.pg('pg_ctl', ['-D', this.dataDir, '-m', 'fast', '-w', '-t', '60', 'stop']).catch(
      () => undefined,
    );
  }

  /** Stops the server and removes its directory. */
  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  /**
   * Synchronous last resort for exit handlers: an immediate shutdown of the postmaster by its pid
   * (SIGQUIT; its backends follow it), then the directory is removed.
   */
  destroyNow(): void {
    const pid = this.pid;
    if (pid !== undefined) {
      try {
        process.kill(pid, 'SIGQUIT');
      } catch {
        // already gone
      }
    }
    this.started = false;
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  private async pg(command: string, args: string[]): Promise<void> {
    const [file, argv] = this.asUser
      ? ['runuser', ['-u', this.asUser, '--', command, ...args]]
      : [command, args];
    try {
      await run(file, argv, { cwd: tmpdir() });
    } catch (error) {
      const e = error as { stderr?: string; message: string };
      throw new Error(`${command} ${args.at(-1)} failed: ${(e.stderr ?? e.message).trim()}`, {
        cause: error,
      });
    }
  }
}
