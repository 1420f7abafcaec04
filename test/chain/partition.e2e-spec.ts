import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import type { ChainStatus } from '@app/chain';
import { type Consortium, createConsortium, writeConsortium } from '@app/control-center';
import { NodeNetwork } from '@app/devnet';
import { createTestDatabase, freePort, type TestDatabase } from '@app/testing';

import { CuttableLink } from '../support/cuttable-link';

const PASSPHRASE = 'partition-test-passphrase';
const SLOT_MS = 1_000;
const PRODUCERS = 9;
/** Three delegates per node: a cut-off node holds a third of the stake-elected set. */
const HOSTING: Record<string, string[]> = {
  'node-1': ['delegate-1', 'delegate-4', 'delegate-7'],
  'node-2': ['delegate-2', 'delegate-5', 'delegate-8'],
  'node-3': ['delegate-3', 'delegate-6', 'delegate-9'],
};
const NODES = Object.keys(HOSTING);

async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

describe('a network cut between one node and the two others', () => {
  let consortium: Consortium;
  let dir: string;
  let databases: Record<string, TestDatabase>;
  let network: NodeNetwork;
  /** links[from][to]: the way node `from` reaches node `to`. */
  const links: Record<string, Record<string, CuttableLink>> = {};

  async function status(node: string): Promise<ChainStatus> {
    const response = await fetch(`${network.node(node).url}/chain/status`);
    return (await response.json()) as ChainStatus;
  }

  async function finalChain(node: string): Promise<string[]> {
    const { rows } = await databases[node]!.pool.query<{ hash: Buffer }>(
      'SELECT hash FROM blocks ORDER BY height',
    );
    return rows.map((r) => r.hash.toString('hex'));
  }

  /** Whether `shorter` is a prefix of `longer` (the same final blocks, height for height). */
  const isPrefix = (shorter: string[], longer: string[]) => shorter.every((hash, i) => longer[i] === hash);

  function cutOff(node: string, cut: boolean): void {
    for (const other of NODES.filter((n) => n !== node)) {
      for (const link of [links[node]![other]!, links[other]![node]!]) {
        if (cut) {
          link.sever();
        } else {
          link.heal();
        }
      }
    }
  }

  beforeAll(async () => {
    consortium = await createConsortium({
      chainId: 'cbsg-partition-test',
      organisations: [
        { id: 'control-center', name: 'Control center', roles: ['control-center', 'receiver'], stake: 100 },
        {
          id: 'grid-operator',
          name: 'Grid operator',
          roles: ['grid-operator', 'delegate-operator'],
          stake: 60,
        },
      ],
      delegates: Object.values(HOSTING)
        .flat()
        .map((id, i) => ({ id, organisation: i % 2 === 0 ? 'control-center' : 'grid-operator' })),
      nodes: NODES.map((id) => ({ id, organisation: 'control-center' })),
      producers: PRODUCERS,
      slotMs: SLOT_MS,
    });
    dir = await mkdtemp(path.join(tmpdir(), 'cbsg-partition-'));
    await writeConsortium(consortium, dir, PASSPHRASE, { scrypt: { N: 2 ** 14, r: 8, p: 1 } });
    databases = {};
    const ports: Record<string, number> = {};
    for (const id of NODES) {
      databases[id] = await createTestDatabase({ poolSize: 2 });
      ports[id] = await freePort();
    }
    for (const from of NODES) {
      links[from] = {};
      for (const to of NODES.filter((n) => n !== from)) {
        links[from][to] = await CuttableLink.open(ports[to]!);
      }
    }
    network = await NodeNetwork.start({
      consortiumDir: dir,
      passphrase: PASSPHRASE,
      nodes: NODES.map((id) => ({
        id,
        databaseUrl: databases[id]!.url,
        port: ports[id]!,
        delegates: HOSTING[id]!,
      })),
      redisUrl: 'redis://127.0.0.1:6379',
      logDir: path.join(dir, 'logs'),
      queuePrefix: `partition-${process.pid}-${Date.now()}`,
      // Everything the nodes say, for the scan for secrets at the end.
      logLevel: 'debug',
      env: { CRYPTO_WORKERS: '1' },
      peerUrl: (from, to) => links[from]![to.id]!.url,
    });
    for (const node of NODES) {
      await until(`${node} to make blocks final`, async () =>
        BigInt((await status(node)).final.height) >= 3n ? true : undefined,
      );
    }
  }, 180_000);

  afterAll(async () => {
    await network?.stop();
    for (const to of Object.values(links)) {
      for (const link of Object.values(to)) {
        await link.close();
      }
    }
    for (const db of Object.values(databases ?? {})) {
      await db.drop();
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('given node-3 cut off for four rounds, it should finalize nothing the others lack, the others should go on, and after the cut all should agree', async () => {
    cutOff('node-3', true);
    const cutAt = BigInt((await status('node-1')).final.height);
    // Four rounds: the majority drops node-3's delegates two rounds on and finalizes again; node-3,
    // which could drop theirs the same way, holds a third of the stake-elected set and must not.
    await new Promise((resolve) => setTimeout(resolve, 4 * PRODUCERS * SLOT_MS));
    const [majority, minority] = await Promise.all([finalChain('node-1'), finalChain('node-3')]);
    expect(BigInt(majority.length)).toBeGreaterThan(cutAt + 1n);
    expect(isPrefix(minority, majority)).toBe(true);
    expect(minority.length).toBeLessThan(majority.length);
    expect(BigInt((await status('node-3')).head.height)).toBeGreaterThan(BigInt(minority.length));

    cutOff('node-3', false);
    const target = BigInt((await status('node-1')).final.height);
    await until(
      'node-3 to catch up after the cut',
      async () => (BigInt((await status('node-3')).final.height) >= target ? true : undefined),
      120_000,
    );
    const chains = await Promise.all(NODES.map(finalChain));
    const common = Math.min(...chains.map((c) => c.length));
    for (const chain of chains.slice(1)) {
      expect(chain.slice(0, common)).toEqual(chains[0]!.slice(0, common));
    }
  }, 300_000);

  it("given the nodes' logs of the whole run, at debug level, none should hold a passphrase, a token or a key", async () => {
    const logs = path.join(dir, 'logs');
    const files = await readdir(logs);
    expect(files.length).toBeGreaterThanOrEqual(NODES.length);
    let scanned = 0;
    for (const file of files) {
      const text = await readFile(path.join(logs, file), 'utf8');
      scanned += text.length;
      expect({ file, passphrase: text.includes(PASSPHRASE) }).toEqual({ file, passphrase: false });
      // Nodes call each other with cbsgnode1 tokens and members with cbsg1 ones: never in a log line.
      expect({ file, token: /cbsg(node)?1\.[\w-]{20,}/.test(text) }).toEqual({ file, token: false });
      expect({ file, adminKey: /cbsg_admin_[0-9a-f]{12}_/.test(text) }).toEqual({ file, adminKey: false });
      expect({ file, keystore: /"ciphertext"|"secret"\s*:/.test(text) }).toEqual({ file, keystore: false });
    }
    expect(scanned).toBeGreaterThan(10_000);
  });
});
