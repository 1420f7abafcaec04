import { randomInt } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { processAlive } from './processes';

export interface PortRange {
  /** First port of the range. */
  from: number;
  /** One past the last port. */
  to: number;
}

/**
 * Below Linux's ephemeral range (32768-60999): a `listen(0)` or an outgoing connection elsewhere in
 * the run never lands on a port handed out here, even while its holder has it closed (a throwaway
 * Redis stopped for 30 s, a node SIGKILLed and restarted on its port).
 */
export const TEST_PORT_RANGE: PortRange = { from: 20_000, to: 30_000 };

const LEASE_DIR = path.join(tmpdir(), 'cbsg-test-ports');

/**
 * A port for a service a test starts, stops and starts again on the same port. Each port is leased
 * to this process (a file named after the port, holding its pid) for as long as it lives, so two jest
 * workers never get the same one; leases of processes that are gone are taken over.
 */
export async function freePort(options: { range?: PortRange; leaseDir?: string } = {}): Promise<number> {
  const { from, to } = options.range ?? TEST_PORT_RANGE;
  const leaseDir = options.leaseDir ?? LEASE_DIR;
  await mkdir(leaseDir, { recursive: true });
  const size = to - from;
  const start = randomInt(size);
  for (let k = 0; k < size; k++) {
    const port = from + ((start + k) % size);
    if (await lease(leaseDir, port)) {
      if (await bindable(port)) {
        return port;
      }
      await rm(path.join(leaseDir, String(port)), { force: true });
    }
  }
  throw new Error(`no free port left in ${from}-${to - 1}`);
}

async function lease(leaseDir: string, port: number): Promise<boolean> {
  const file = path.join(leaseDir, String(port));
  if (await createLease(file)) {
    return true;
  }
  const owner = Number((await readFile(file, 'utf8').catch(() => '')).trim());
  if (owner === process.pid || (Number.isInteger(owner) && owner > 0 && processAlive(owner))) {
    return false;
  }
  // Stale: its process is gone. Whoever creates the file anew after removing it holds the lease.
  await rm(file, { force: true });
  return createLease(file);
}

async function createLease(file: string): Promise<boolean> {
  try {
    await writeFile(file, String(process.pid), { flag: 'wx' });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      return false;
    }
    throw error;
  }
}

/** Nothing outside the test run listens on it (leases only coordinate our own processes). */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
