import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

import { Registry } from 'prom-client';

import { HEAD_DIGEST_TAG, type HeadDigest, type ReceiverShares } from '@app/chain';
import { CONSORTIUM_FILES } from '@app/control-center';
import { blsSign, CryptoPool, type PoolReceiver, toHex } from '@app/crypto';
import { canonicalJson } from '@app/kernel';
import { enrolMeters, enrolReceiver } from '@app/devnet';
import { loadGenesis } from '@app/ledger';
import { FleetSimulator, STANDARD_DIMENSIONS } from '@app/meter-sdk';
import { createTestDatabase, type TestDatabase } from '@app/testing';

import { ConsortiumHarness, ORGANISATIONS } from '../../../test/support/consortium-harness';
import { ChainFollower } from '../src/chain-follower';
import { genesisNodeKeys, HeadWitness } from '../src/head-witness';

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
  /** What the proxy answers to GET /chain/digest instead of the node, when set. */
  let servedDigest: unknown;
  /** The node's final chain once every report is final: height -> ids of the operator's reports. */
  let finalHeight: bigint;
  let reportHeights: Map<bigint, string[]>;
  let db: TestDatabase;
  const simulator = new FleetSimulator({ seed: 21, meters: 6 });

  function witness(): HeadWitness {
    return new HeadWitness(
      db.pool,
      {
        receiverId: OPERATOR,
        chainId: harness.chainId,
        nodeUrls: [proxyUrl],
        nodeAuthorization: () => harness.authorization(ORGANISATIONS.gridOperator),
        nodeKeys: genesisNodeKeys(harness.consortium.genesis.nodes),
        intervalMs: 60_000,
      },
      new Registry(),
    );
  }

  /** A head digest as `nodeId` would sign it, with its node key from the consortium. */
  function signedDigest(nodeId: string, fields: Partial<Omit<HeadDigest, 'signature'>>): HeadDigest {
    const unsigned = {
      chainId: harness.chainId,
      nodeId,
      finalHeight: '1',
      finalHash: 'ab'.repeat(32),
      headHeight: '2',
      headHash: 'cd'.repeat(32),
      at: Date.now(),
      ...fields,
    };
    const signature = blsSign(
      harness.consortium.nodeKeys.get(nodeId)!,
      { tag: HEAD_DIGEST_TAG, chainId: harness.chainId },
      Buffer.from(canonicalJson(unsigned)),
    );
    return { ...unsigned, signature: toHex(signature) };
  }

  async function blockHashAt(height: bigint): Promise<string> {
    const { rows } = await harness.db.pool.query<{ hash: Buffer }>(
      'SELECT hash FROM blocks WHERE height = $1',
      [height.toString()],
    );
    return toHex(rows[0]!.hash);
  }

  async function keptDigests(): Promise<number> {
    const { rows } = await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM receiver_head_digests');
    return Number(rows[0]!.n);
  }

  function follower(
    batchBlocks: number,
    afterBlock?: (height: bigint) => void,
    headWitness?: HeadWitness,
  ): ChainFollower {
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
        ...(headWitness ? { witness: headWitness } : {}),
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
        if (request.url === '/chain/digest' && servedDigest !== undefined) {
          response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(servedDigest));
          return;
        }
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
    servedDigest = undefined;
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

  describe('as a witness of the nodes (HeadWitness)', () => {
    it("given the node's signed head digest, should keep it once per final block, with the node's signature", async () => {
      const subject = witness();
      const [first] = await subject.collectAll();
      expect(first).toMatchObject({
        outcome: 'stored',
        digest: { nodeId: 'node-1', chainId: harness.chainId },
      });
      const digest = (first as { digest: HeadDigest }).digest;
      expect(digest.finalHash).toBe(await blockHashAt(BigInt(digest.finalHeight)));

      // The same final block again (the node serves that digest once more): nothing new to keep.
      servedDigest = digest;
      await expect(subject.collect(proxyUrl)).resolves.toMatchObject({ outcome: 'known' });
      const { rows } = await db.pool.query<{ node_id: string; final_height: string; signature: Buffer }>(
        'SELECT node_id, final_height, signature FROM receiver_head_digests',
      );
      expect(rows).toEqual([
        {
          node_id: 'node-1',
          final_height: digest.finalHeight,
          signature: Buffer.from(digest.signature, 'hex'),
        },
      ]);
      await expect(db.pool.query('DELETE FROM receiver_head_digests')).rejects.toThrow(/append-only/);
      await expect(subject.status()).resolves.toMatchObject({ digests: 1, conflicts: [] });
    });

    it('given a digest that is not a genuine one of a genesis node, should refuse it with its reason and keep nothing', async () => {
      const subject = witness();
      const genuine = signedDigest('node-1', { finalHeight: '3', finalHash: await blockHashAt(3n) });
      const cases: Array<[unknown, RegExp]> = [
        [{ ...genuine, finalHash: 'ee'.repeat(32) }, /signature is not node-1's/],
        [{ ...genuine, nodeId: 'node-2' }, /signature is not node-2's/],
        [signedDigest('node-1', { chainId: 'another-chain' }), /chain another-chain/],
        [{ ...genuine, nodeId: 'node-9' }, /no node of the genesis/],
        [{ ...genuine, finalHeight: '-1' }, /not a head digest \(finalHeight/],
        [{ ...genuine, extra: 1 }, /not a head digest/],
        [{ ...genuine, signature: genuine.signature.slice(2) }, /not a head digest \(signature/],
        ['no digest at all', /not a head digest/],
      ];
      for (const [served, reason] of cases) {
        servedDigest = served;
        await expect(subject.collect(proxyUrl)).resolves.toEqual({
          outcome: 'refused',
          reason: expect.stringMatching(reason) as string,
        });
      }
      expect(await keptDigests()).toBe(0);
      servedDigest = genuine;
      await expect(subject.collect(proxyUrl)).resolves.toMatchObject({ outcome: 'stored' });
    });

    it('given a node that signs another block as final at a height already processed, should keep its digest as evidence and name the conflict', async () => {
      const subject = witness();
      await follower(500, undefined, subject).step();
      const height = [...reportHeights.keys()][1]!;
      const rewritten = 'ee'.repeat(32);
      servedDigest = signedDigest('node-1', { finalHeight: height.toString(), finalHash: rewritten });

      await expect(subject.collect(proxyUrl)).resolves.toMatchObject({ outcome: 'stored' });
      await expect(subject.conflicts()).resolves.toEqual([
        {
          nodeId: 'node-1',
          height: height.toString(),
          signedHash: rewritten,
          otherHash: await blockHashAt(height),
          other: 'processed-block',
        },
      ]);
    });

    it('given two nodes that sign different blocks as final at one height, should name the conflict between them', async () => {
      const subject = witness();
      servedDigest = signedDigest('node-1', { finalHeight: '900', finalHash: 'aa'.repeat(32) });
      await subject.collect(proxyUrl);
      servedDigest = signedDigest('node-2', { finalHeight: '900', finalHash: 'bb'.repeat(32) });
      await subject.collect(proxyUrl);

      const { conflicts } = await subject.status();
      expect(conflicts).toEqual([
        expect.objectContaining({
          height: '900',
          other: { nodeId: expect.stringMatching(/^node-[12]$/) as string },
        }),
      ]);
      expect(new Set([conflicts[0]!.nodeId, (conflicts[0]!.other as { nodeId: string }).nodeId])).toEqual(
        new Set(['node-1', 'node-2']),
      );
    });

    it('given a signed digest that names another block at a height not yet processed, should take the blocks below it and refuse that one', async () => {
      const subject = witness();
      const height = [...reportHeights.keys()][2]!;
      servedDigest = signedDigest('node-1', { finalHeight: height.toString(), finalHash: 'ee'.repeat(32) });
      await subject.collect(proxyUrl);

      await expect(follower(500, undefined, subject).step()).rejects.toMatchObject({
        code: 'FOLLOW.CHAIN_MISMATCH',
        message: expect.stringContaining(
          `is not the block node-1 signed as final at that height (eeee`,
        ) as string,
      });
      expect(await written()).toMatchObject({ height: height - 1n, readings: reportsBelow(height) });
      const { rows } = await db.pool.query<{ height: string }>(
        'SELECT height FROM receiver_blocks ORDER BY height',
      );
      expect(rows.map((r) => BigInt(r.height))).toEqual(
        Array.from({ length: Number(height) - 1 }, (_, i) => BigInt(i + 1)),
      );
    });
  });
});
