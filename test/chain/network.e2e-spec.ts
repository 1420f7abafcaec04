import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import type { INestApplication } from '@nestjs/common';

import { issueIdentityToken } from '@app/auth';
import type { ChainStatus } from '@app/chain';
import { parseControlCenterConfig } from '@app/config';
import { type Consortium, CONSORTIUM_FILES, createConsortium, writeConsortium } from '@app/control-center';
import { SystemParams } from '@app/crypto';
import {
  enrolMeters,
  enrolStandardReceivers,
  type EnrolledMeter,
  type EnrolmentContext,
  NodeNetwork,
} from '@app/devnet';
import { FleetSimulator, NodeSubmitter, STANDARD_DIMENSIONS, standardPolicies } from '@app/meter-sdk';
import { createTestDatabase, freePort, type TestDatabase } from '@app/testing';

import { createControlCenterApp } from '../../apps/control-center/src/bootstrap';

/**
 * Three node processes, each with its own database, 21 delegates spread 8/8/5 (so that without the
 * third node more than 2/3 of them still vote), 1 s slots. Everything is observed from outside: HTTP
 * and each node's own database.
 */
const DELEGATES = Array.from({ length: 21 }, (_, i) => `delegate-${String(i + 1).padStart(2, '0')}`);
const HOSTING: Record<string, string[]> = {
  'node-1': DELEGATES.slice(0, 8),
  'node-2': DELEGATES.slice(8, 16),
  'node-3': DELEGATES.slice(16),
};
const PASSPHRASE = 'network test passphrase';
const ORGS = { cc: 'control-center', operator: 'grid-operator', supplier: 'equipment-supplier' };
const RECEIVERS = {
  controlCenter: 'cc-analytics',
  gridOperator: 'operator-billing',
  equipmentSupplier: 'supplier-maintenance',
};

jest.setTimeout(300_000);

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

async function getJson<T>(url: string, authorization?: string): Promise<T> {
  const response = await fetch(url, authorization ? { headers: { authorization } } : {});
  if (!response.ok) {
    throw new Error(`${url}: ${response.status}`);
  }
  return (await response.json()) as T;
}

describe('a consortium of three node processes', () => {
  let consortium: Consortium;
  let dir: string;
  let databases: Record<string, TestDatabase>;
  let network: NodeNetwork;
  let controlCenter: INestApplication;
  let fleet: EnrolledMeter[];
  const simulator = new FleetSimulator({ seed: 21, meters: 6 });
  const receipts: string[] = [];

  const status = (node: string) => getJson<ChainStatus>(`${network.node(node).url}/chain/status`);
  /** Reads that need a member's credentials: the grid operator's token. */
  const asOperator = () =>
    `Bearer ${issueIdentityToken(
      consortium.organisationKeys.get(ORGS.operator)!,
      consortium.genesis.chainId,
      {
        kind: 'organisation',
        id: ORGS.operator,
      },
    )}`;

  /** Sends one report per meter, each meter to "its" node, and keeps the receipts. */
  async function report(nodes: readonly string[]): Promise<void> {
    const now = Date.now();
    const batches = new Map<string, ReturnType<EnrolledMeter['reporter']['report']>[]>();
    for (const [i, meter] of fleet.entries()) {
      const node = nodes[i % nodes.length]!;
      const list = batches.get(node) ?? [];
      list.push(meter.reporter.report(simulator.reading(meter.spec.meterId, now), now));
      batches.set(node, list);
    }
    for (const [node, reports] of batches) {
      const answer = await new NodeSubmitter(network.node(node).url).submitBatch(reports);
      expect(answer.body).toMatchObject({ accepted: reports.length, rejected: 0 });
      receipts.push(...reports.map((r) => r.idHex));
    }
  }

  /** How many times each receipt's report is in a node's final chain (its own database). */
  async function inclusions(node: string): Promise<Map<string, number>> {
    const { rows } = await databases[node]!.pool.query<{ hash: Buffer }>(
      `SELECT hash FROM block_transactions WHERE kind = 'report' AND hash = ANY($1::bytea[])`,
      [receipts.map((r) => Buffer.from(r, 'hex'))],
    );
    const counts = new Map<string, number>();
    for (const row of rows) {
      const hex = row.hash.toString('hex');
      counts.set(hex, (counts.get(hex) ?? 0) + 1);
    }
    return counts;
  }

  async function finalHashes(node: string, upTo: bigint): Promise<string[]> {
    const { rows } = await databases[node]!.pool.query<{ hash: Buffer }>(
      'SELECT hash FROM blocks WHERE height <= $1 ORDER BY height',
      [upTo.toString()],
    );
    return rows.map((r) => r.hash.toString('hex'));
  }

  /** Every receipt in every node's final chain exactly once, and the nodes' final chains identical. */
  async function expectEveryReceiptOnceEverywhere(nodes: readonly string[]): Promise<void> {
    for (const node of nodes) {
      await until(`${node} to hold every receipt in a final block`, async () =>
        (await inclusions(node)).size === receipts.length ? true : undefined,
      );
      const counts = await inclusions(node);
      expect([...counts.values()].every((n) => n === 1)).toBe(true);
    }
    const heights = await Promise.all(nodes.map(async (n) => BigInt((await status(n)).final.height)));
    const common = heights.reduce((a, b) => (a < b ? a : b));
    const chains = await Promise.all(nodes.map((n) => finalHashes(n, common)));
    for (const chain of chains.slice(1)) {
      expect(chain).toEqual(chains[0]);
    }
    // The schedules settled by those blocks are the same everywhere too, seeds included.
    const schedules = await Promise.all(nodes.map((n) => settledSchedules(n, common)));
    for (const settled of schedules.slice(1)) {
      expect(settled).toEqual(schedules[0]);
    }
  }

  async function settledSchedules(node: string, upTo: bigint): Promise<string[]> {
    const { rows } = await databases[node]!.pool.query<{
      round: string;
      elected: string[];
      slots: string[];
      seed: Buffer;
    }>(
      `SELECT round, elected, slots, seed FROM round_schedules
       WHERE round <= (SELECT round FROM blocks WHERE height = $1) + 1 ORDER BY round`,
      [upTo.toString()],
    );
    return rows.map(
      (r) => `${r.round} ${r.elected.join(',')} ${r.slots.join(',')} ${r.seed.toString('hex')}`,
    );
  }

  beforeAll(async () => {
    consortium = await createConsortium({
      chainId: 'cbsg-network-test',
      organisations: [
        {
          id: ORGS.cc,
          name: 'Control center',
          roles: ['control-center', 'meter-registrar', 'receiver'],
          stake: 100,
        },
        {
          id: ORGS.operator,
          name: 'Grid operator',
          roles: ['grid-operator', 'meter-registrar', 'receiver', 'delegate-operator'],
          stake: 60,
        },
        { id: ORGS.supplier, name: 'Supplier', roles: ['equipment-supplier', 'receiver'], stake: 20 },
      ],
      delegates: DELEGATES.map((id, i) => ({ id, organisation: i % 2 === 0 ? ORGS.cc : ORGS.operator })),
      nodes: Object.keys(HOSTING).map((id) => ({ id, organisation: ORGS.cc })),
      producers: 21,
      slotMs: 1_000,
    });
    dir = await mkdtemp(path.join(tmpdir(), 'cbsg-network-'));
    await writeConsortium(consortium, dir, PASSPHRASE, { scrypt: { N: 2 ** 14, r: 8, p: 1 } });
    databases = {};
    for (const id of Object.keys(HOSTING)) {
      databases[id] = await createTestDatabase({ poolSize: 2 });
    }
    const ports = await Promise.all(Object.keys(HOSTING).map(() => freePort()));
    network = await NodeNetwork.start({
      consortiumDir: dir,
      passphrase: PASSPHRASE,
      nodes: Object.entries(HOSTING).map(([id, delegates], i) => ({
        id,
        databaseUrl: databases[id]!.url,
        port: ports[i]!,
        delegates,
      })),
      redisUrl: 'redis://127.0.0.1:6379',
      logDir: path.join(dir, 'logs'),
      queuePrefix: `network-${process.pid}-${Date.now()}`,
      logLevel: process.env.TEST_LOGS ? 'debug' : 'warn',
      env: { CRYPTO_WORKERS: '1' },
    });
    const nodeUrl = network.node('node-1').url;
    controlCenter = await createControlCenterApp(
      parseControlCenterConfig({
        NODE_URL: nodeUrl,
        GENESIS_FILE: path.join(dir, CONSORTIUM_FILES.genesis),
        CC_KEYS_DIR: dir,
        CC_PASSPHRASE: PASSPHRASE,
        LOG_LEVEL: 'fatal',
      }),
    );
    await controlCenter.listen(0, '127.0.0.1');
    const ctx: EnrolmentContext = {
      nodeUrl,
      ccUrl: await controlCenter.getUrl(),
      chainId: consortium.genesis.chainId,
      params: SystemParams.fromJSON(consortium.genesis.systemParams),
      organisationKeys: consortium.organisationKeys,
    };
    await enrolStandardReceivers(ctx, RECEIVERS, {
      controlCenter: ORGS.cc,
      gridOperator: ORGS.operator,
      equipmentSupplier: ORGS.supplier,
    });
    const policies = standardPolicies(RECEIVERS);
    fleet = await enrolMeters(
      ctx,
      simulator.meters.map((m, i) => ({
        meterId: m.meterId,
        registrar: ORGS.operator,
        dimensions: STANDARD_DIMENSIONS,
        policy: policies[i % policies.length]!,
        epoch: { maxReports: 8, maxAgeMs: 3_600_000 },
        owner: { name: `owner ${i}`, notifyUrl: `https://phones.example/${i}` },
      })),
    );
    // Every node must know the meters (final on each) before taking their reports.
    for (const node of Object.keys(HOSTING)) {
      await until(`${node} to know the meters`, async () =>
        (await fetch(`${network.node(node).url}/meters/${fleet.at(-1)!.spec.meterId}`)).ok ? true : undefined,
      );
    }
  });

  afterAll(async () => {
    await controlCenter?.close();
    await network?.stop();
    for (const db of Object.values(databases ?? {})) {
      await db.drop();
    }
    if (dir) {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('given reports sent to all three nodes, should put each in one block, the same chain on every node', async () => {
    for (let k = 0; k < 3; k += 1) {
      await report(['node-1', 'node-2', 'node-3']);
    }
    await expectEveryReceiptOnceEverywhere(['node-1', 'node-2', 'node-3']);
    const producers = await databases['node-1']!.pool.query<{ producer: string }>(
      'SELECT DISTINCT producer FROM blocks',
    );
    // Blocks come from delegates hosted by different processes.
    const hosts = new Set(
      producers.rows.map((r) => Object.keys(HOSTING).find((n) => HOSTING[n]!.includes(r.producer))),
    );
    expect(hosts.size).toBeGreaterThan(1);
  });

  it('given node-3 killed, should record its missed slots, drop its delegates two rounds on, go on, and let it catch up when it returns', async () => {
    await network.node('node-3').kill();
    const killedAt = await status('node-1');
    const killedRound = BigInt(killedAt.currentRound);

    // Missed slots of node-3's delegates, recorded in the final chain and shown by the API.
    const missed = await until('missed slots of node-3', async () => {
      const { missedSlots: rows } = await getJson<{
        missedSlots: Array<{ slot: string; round: string; delegate: string }>;
      }>(`${network.node('node-1').url}/missed-slots?limit=100`, asOperator());
      const ours = rows.filter(
        (r) => HOSTING['node-3']!.includes(r.delegate) && BigInt(r.slot) > BigInt(killedAt.final.slot),
      );
      return ours.length > 0 ? ours : undefined;
    });
    expect(missed.length).toBeGreaterThan(0);

    // The chain goes on without it, and takes reports on the two nodes left.
    await report(['node-1', 'node-2']);
    await expectEveryReceiptOnceEverywhere(['node-1', 'node-2']);

    // The round two after the first round with misses is elected without the delegates that missed.
    const firstRound = missed.map((m) => BigInt(m.round)).reduce((a, b) => (a < b ? a : b));
    const dropped = [...new Set(missed.filter((m) => BigInt(m.round) === firstRound).map((m) => m.delegate))];
    expect(firstRound).toBeGreaterThanOrEqual(killedRound);
    const schedule = await until(
      `the schedule of round ${firstRound + 2n}`,
      () =>
        getJson<{
          elected: string[];
          dropped: Array<{ delegate: string; missedRound: string; missedSlots: string[] }>;
        }>(`${network.node('node-1').url}/schedule?round=${firstRound + 2n}`, asOperator()),
      120_000,
    );
    for (const delegate of dropped) {
      expect(schedule.elected).not.toContain(delegate);
    }
    // ... and says so: each dropped delegate with the slots it missed.
    for (const delegate of dropped) {
      expect(schedule.dropped).toContainEqual({
        delegate,
        missedRound: firstRound.toString(),
        missedSlots: expect.arrayContaining(
          missed.filter((m) => m.delegate === delegate && BigInt(m.round) === firstRound).map((m) => m.slot),
        ) as string[],
      });
    }
    expect(schedule.elected.length).toBeGreaterThan(0);

    // Blocks that reach node-1 or node-2 after they made them final: blocks node-3 relays back.
    const lateBlocks = async () => {
      let total = 0;
      for (const node of ['node-1', 'node-2']) {
        const metrics = await (await fetch(`${network.node(node).url}/metrics`)).text();
        total += Number(
          /cbsg_blocks_received_total\{outcome="final_already"\} (\d+)/.exec(metrics)?.[1] ?? 0,
        );
      }
      return total;
    };
    const lateBefore = await lateBlocks();

    // Back: until it has caught up, node-3 turns meters away (503 with Retry-After, nothing stored),
    // so that checking the blocks it missed gets the CPU; the first answer it gives a meter says so.
    const meter = fleet[0]!;
    const early = meter.reporter.report(simulator.reading(meter.spec.meterId, Date.now()), Date.now());
    const starting = network.node('node-3').start();
    const first = await until('node-3 to answer a meter', async () => {
      const response = await fetch(`${network.node('node-3').url}/reports`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(early.toJSON()),
      });
      return {
        status: response.status,
        retryAfter: response.headers.get('retry-after'),
        body: (await response.json()) as { code: string },
      };
    });
    expect(first).toMatchObject({ status: 503, retryAfter: '1', body: { code: 'INTAKE.CATCHING_UP' } });
    expect((await fetch(`${network.node('node-3').url}/reports/${early.idHex}`)).status).toBe(404);
    await starting;

    // Then it catches up block by block and ends with the same chain and every report once.
    const target = BigInt((await status('node-1')).final.height);
    await until('node-3 to catch up', async () =>
      BigInt((await status('node-3')).final.height) >= target ? true : undefined,
    );
    // It took the blocks it missed from its peers' final chains, and pulled their candidates, without
    // sending them back: at most a few blocks pushed to it that went final at a peer meanwhile.
    expect((await lateBlocks()) - lateBefore).toBeLessThanOrEqual(4);
    await report(['node-1', 'node-2', 'node-3']);
    await expectEveryReceiptOnceEverywhere(['node-1', 'node-2', 'node-3']);
  });
});
