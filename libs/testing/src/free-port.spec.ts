import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { freePort, TEST_PORT_RANGE } from './free-port';

describe('freePort', () => {
  let leaseDir: string;

  beforeEach(async () => {
    leaseDir = await mkdtemp(path.join(tmpdir(), 'cbsg-port-leases-'));
  });

  afterEach(async () => {
    await rm(leaseDir, { recursive: true, force: true });
  });

  it('given many calls at once, should hand out distinct ports below the ephemeral range, each leased to this process', async () => {
    const ports = await Promise.all(Array.from({ length: 40 }, () => freePort({ leaseDir })));
    expect(new Set(ports).size).toBe(ports.length);
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(TEST_PORT_RANGE.from);
      expect(port).toBeLessThan(TEST_PORT_RANGE.to);
      expect(await readFile(path.join(leaseDir, String(port)), 'utf8')).toBe(String(process.pid));
    }
  });

  it('given the other ports of a range leased by a live process, should take the one left', async () => {
    const range = { from: 23_100, to: 23_105 };
    for (let port = range.from; port < range.to; port++) {
      if (port !== 23_103) {
        // The parent of this jest worker outlives the test.
        await writeFile(path.join(leaseDir, String(port)), String(process.ppid));
      }
    }
    expect(await freePort({ range, leaseDir })).toBe(23_103);
    await expect(freePort({ range, leaseDir })).rejects.toThrow(/no free port left in 23100-23104/);
  });

  it('given a lease of a process that is gone, should take it over', async () => {
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
      encoding: 'utf8',
    });
    const range = { from: 23_200, to: 23_201 };
    await writeFile(path.join(leaseDir, '23200'), gone.stdout);
    expect(await freePort({ range, leaseDir })).toBe(23_200);
    expect(await readFile(path.join(leaseDir, '23200'), 'utf8')).toBe(String(process.pid));
  });

  it('given a port something outside the run listens on, should skip it', async () => {
    const range = { from: 23_300, to: 23_302 };
    const squatter: Server = createServer();
    await new Promise<void>((resolve) => squatter.listen(23_300, '127.0.0.1', resolve));
    try {
      for (let i = 0; i < 5; i++) {
        await rm(path.join(leaseDir, '23301'), { force: true });
        expect(await freePort({ range, leaseDir })).toBe(23_301);
      }
    } finally {
      await new Promise((resolve) => squatter.close(resolve));
    }
    // The port found taken is not kept leased: it may be free for another process later.
    expect(await readdir(leaseDir)).toEqual(['23301']);
  });
});
