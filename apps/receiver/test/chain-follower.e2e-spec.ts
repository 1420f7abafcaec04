import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

import { Registry } from 'prom-client';

import type { ReceiverShares } from '@app/chain';
import { CONSORTIUM_FILES } from '@app/control-center';
import { CryptoPool, type PoolReceiver, toHex } from '@app/crypto';
import { enrolMeters, enrolReceiver } from '@app/devnet';
import { loadGenesis } from '@app/ledger';
import { FleetSimulator, STANDARD_DIMENSIONS } from '@app/meter-sdk';
import { createTestDatabase, type TestDatabase } from '@app/testing';

import { ConsortiumHarness, ORGANISATIONS } from '../../../test/support/consortium-harness';
import { ChainFollower } from '../src/chain-follower';

const OPERATOR = 'operator-billing';

jest.setTimeout(180_000);

/**
 * The follower against a real node, seen through a proxy that can rewrite what the node serves: blocks
 * are written in height order even though the next block's shares are opened while one is written, and
 * a block that does not hash to what its header says, or does not extend what was processed, stops it
 * with nothing of that block written.
 */
describe('ChainFollower', () => {
  let harness: ConsortiumHarness;
  let crypto: CryptoPool;
  let receiver: PoolReceiver;
  let genesisHash: Uint8Array;
  let proxy: Server;
  let proxyUrl: string;
  /** Rewrites the node's answer to GET /receivers/:id/shares, when set. */
  let tamper: ((page: ReceiverShares) => void) | undefined;
  /** The node's final chain once every report is final: height -> ids of the operator's reports. */
  let finalHeight: bigint;
  let reportHeights: Map<bigint, string[]>;
  let db: TestDatabase;
  const simulator = new FleetSimulator({ seed: 21, meters: 6 });

  function follower(batchBlocks: number, afterBlock?: (height: bigint) => void): ChainFollower {
    return new ChainFollower(
      db.pool,
      crypto,
      receiver,
      {
        receiverId: OPERATOR,
        nodeUrl: proxyUrl,
        nodeAuthorization: () => harness.authorization(ORGANISATIONS.gridOperator),
        fromHeight: 1n,
        genesisHash,
        batchBlocks,
        pollMs: 50,
        ...(afterBlock ? { afterBlock: (_client, height) => Promise.resolve(afterBlock(height)) } : {}),
      },
      new Registry(),
    );
  }

  async function written(): Promise<{
    height: bigint;
    hash: string | null;
    readings: Map<bigint, string[]>;
  }> {
    const { rows: checkpoint } = await db.pool.query<{ height: string; block_hash: Buffer }>(
      'SELECT height, block_hash FROM receiver_checkpoints WHERE receiver_id = $1',
      [OPERATOR],
    );
    const { rows } = await db.pool.query<{ height: string; report_id: Buffer }>(
      'SELECT height, report_id FROM receiver_readings WHERE receiver_id = $1 ORDER BY height, position',
      [OPERATOR],
    );
    const readings = new Map<bigint, string[]>();
    for (const row of rows) {
      const height = BigInt(row.height);
      readings.set(height, [...(readings.get(height) ?? []), toHex(row.report_id)]);
    }
    return {
      height: checkpoint[0] ? BigInt(checkpoint[0].height) : 0n,
      hash: checkpoint[0] ? toHex(checkpoint[0].block_hash) : null,
      readings,
    };
  }

  function reportsBelow(height: bigint): Map<bigint, string[]> {
    return new Map([...reportHeights].filter(([h]) => h < height));
  }

  beforeAll(async () => {
    harness = await ConsortiumHarness.start();
    const ctx = harness.enrolment();
    const holder = await enrolReceiver(ctx, {
      id: OPERATOR,
      organisation: ORGANISATIONS.gridOperator,
      role: 'grid-operator',
    });
    const meters = await enrolMeters(
      ctx,
      simulator.meters.map((m, i) => ({
        meterId: m.meterId,
        registrar: ORGANISATIONS.gridOperator,
        dimensions: STANDARD_DIMENSIONS,
        policy: [{ receiver: OPERATOR, dimensions: ['consumption_kwh', 'voltage_a'] }],
        // The paper's per-report mode: every share costs its own pairing.
        epoch: { maxReports: 1, maxAgeMs: 3_600_000 },
        owner: { name: `owner ${i}`, notifyUrl: 'http://127.0.0.1:9/notify' },
      })),
    );
    // Reports spread over several blocks.
    const ids: string[] = [];
    for (let round = 0; round < 5; round += 1) {
      const now = Date.now();
      const batch = meters.map((m) =>
        m.reporter.report(simulator.reading(m.spec.meterId, now + round), now + round),
      );
      expect((await harness.post('/reports/batch', { reports: batch.map((r) => r.toJSON()) })).status).toBe(
        200,
      );
      ids.push(...batch.map((r) => r.idHex));
      await new Promise((resolve) => setTimeout(resolve, 700));
    }
    for (const id of ids) {
      await harness.waitFor(`/reports/${id}`, (body) => body.status === 'final');
    }
    const { rows: head } = await harness.db.pool.query<{ height: string }>(
      'SELECT max(height) AS height FROM blocks',
    );
    finalHeight = BigInt(head[0]!.height);
    const { rows } = await harness.db.pool.query<{ height: string; hash: Buffer }>(
      "SELECT height, hash FROM block_transactions WHERE kind = 'report' ORDER BY height, position",
    );
    reportHeights = new Map();
    for (const row of rows) {
      const height = BigInt(row.height);
      reportHeights.set(height, [...(reportHeights.get(height) ?? []), toHex(row.hash)]);
    }
    expect(reportHeights.size).toBeGreaterThanOrEqual(3);

    genesisHash = loadGenesis(
      JSON.parse(await readFile(path.join(harness.dir, CONSORTIUM_FILES.genesis), 'utf8')) as unknown,
    ).hash;
    crypto = await CryptoPool.start(harness.params, { size: 2 });
    receiver = await crypto.loadReceiverKey(OPERATOR, holder.keys.secret);

    proxy = createServer((request, response) => {
      void (async () => {
        const upstream = await fetch(`${harness.nodeUrl}${request.url}`, {
          headers: { authorization: request.headers.authorization ?? '' },
        });
        let body = await upstream.text();
        if (upstream.ok && /^\/receivers\/[^/]+\/shares/.test(request.url ?? '')) {
          // The chain as it stood when every report was final: blocks sealed since are not served,
          // so that each test knows the heights it will see.
          const page = JSON.parse(body) as ReceiverShares;
          page.blocks = page.blocks.filter((b) => BigInt(b.height) <= finalHeight);
          page.finalHeight = finalHeight.toString();
          tamper?.(page);
          body = JSON.stringify(page);
        }
        response.writeHead(upstream.status, { 'content-type': 'application/json' }).end(body);
      })().catch((error: unknown) => response.writeHead(502).end(String(error)));
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    proxy?.close();
    await crypto?.close();
    await harness?.stop();
  });

  beforeEach(async () => {
    tamper = undefined;
    db = await createTestDatabase({ poolSize: 4 });
  });

  afterEach(async () => {
    await db?.drop();
  });

  it('given final blocks, when one step takes them all, should write every block once, in height order, and leave the checkpoint on the last', async () => {
    const heights: bigint[] = [];
    await expect(follower(500, (height) => heights.push(height)).step()).resolves.toBe(Number(finalHeight));

    expect(heights).toEqual(Array.from({ length: Number(finalHeight) }, (_, i) => BigInt(i + 1)));
    const { rows: last } = await harness.db.pool.query<{ hash: Buffer }>(
      'SELECT hash FROM blocks WHERE height = $1',
      [finalHeight.toString()],
    );
    const state = await written();
    expect(state).toEqual({ height: finalHeight, hash: toHex(last[0]!.hash), readings: reportHeights });
  });

  it('given a node that serves a block whose hash does not match its header and signature, should write the blocks before it and stop there', async () => {
    const bad = [...reportHeights.keys()][2]!;
    tamper = (page) => {
      const block = page.blocks.find((b) => BigInt(b.height) === bad);
      if (block) {
        block.signature = toHex(randomBytes(block.signature.length / 2));
      }
    };
    const heights: bigint[] = [];
    const subject = follower(500, (height) => heights.push(height));

    await expect(subject.step()).rejects.toMatchObject({
      code: 'FOLLOW.BAD_BLOCK',
      message: expect.stringContaining(`block ${bad}'s hash`) as string,
    });
    expect(heights).toEqual(Array.from({ length: Number(bad) - 1 }, (_, i) => BigInt(i + 1)));
    expect(await written()).toMatchObject({ height: bad - 1n, readings: reportsBelow(bad) });

    // The node serves the true block again: the follower goes on from where it stopped.
    tamper = undefined;
    await subject.step();
    expect(await written()).toMatchObject({ height: finalHeight, readings: reportHeights });
    expect(heights).toEqual(Array.from({ length: Number(finalHeight) }, (_, i) => BigInt(i + 1)));
  });

  it('given a checkpoint on another history than the node serves, should refuse the next block and write nothing', async () => {
    const subject = follower(2);
    await subject.step();
    expect((await written()).height).toBe(2n);
    await db.pool.query('UPDATE receiver_checkpoints SET block_hash = $1 WHERE receiver_id = $2', [
      randomBytes(32),
      OPERATOR,
    ]);

    await expect(subject.step()).rejects.toMatchObject({
      code: 'FOLLOW.CHAIN_MISMATCH',
      message: expect.stringContaining('block 3 does not extend block 2') as string,
    });
    expect(await written()).toMatchObject({ height: 2n, readings: reportsBelow(3n) });
  });
});
