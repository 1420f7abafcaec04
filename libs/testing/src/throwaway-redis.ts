import { type ChildProcess, spawn } from 'node:child_process';

import { freePort } from './free-port';

export interface ThrowawayRedisOptions {
  /** A fixed port (default: a free one). */
  port?: number;
  /**
   * Keep the data in this directory (append-only file) across stop() and start(), as a production
   * Redis configured for BullMQ does. Without it nothing is persisted: a restart starts empty.
   */
  dataDir?: string;
}

/**
 * A redis-server of the test's own, on a free port, that the test may stop and start again (the
 * shared Redis on 6379 is never touched).
 */
export class ThrowawayRedis {
  private child: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    private readonly dataDir?: string,
  ) {}

  static async start(options: ThrowawayRedisOptions = {}): Promise<ThrowawayRedis> {
    const redis = new ThrowawayRedis(options.port ?? (await freePort()), options.dataDir);
    await redis.start();
    return redis;
  }

  /** The server's process id (undefined while it is stopped). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.child) {
      return;
    }
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        ...(this.dataDir
          ? ['--appendonly', 'yes', '--appendfsync', 'everysec', '--dir', this.dataDir]
          : ['--appendonly', 'no']),
        '--daemonize',
        'no',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    await new Promise<void>((resolve, reject) => {
      let output = '';
      const timer = setTimeout(
        () => reject(new Error(`redis-server did not start on ${this.port}: ${output}`)),
        // Loading its append-only file takes a while on a busy machine: 9 s for 280 MB under a soak.
        60_000,
      );
      child.stdout?.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited with ${code}: ${output}`));
      });
    });
  }

  /**
   * Kills the server: SIGKILL by default (no chance to say goodbye to its clients), or SIGTERM for a
   * clean stop that writes its data first (with `dataDir`).
   */
  async stop(signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child) {
      return;
    }
    this.child = undefined;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill(signal);
    });
  }

  /** Synchronous last resort for exit handlers. */
  killNow(): void {
    this.child?.kill('SIGKILL');
    this.child = undefined;
  }
}
