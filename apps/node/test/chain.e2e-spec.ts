import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

import { Client } from 'pg';

import {
  blockToWire,
  CATCH_UP_PAGE_TRANSACTIONS,
  type ChainStatus,
  HEAD_DIGEST_TAG,
  type HeadDigest,
  type WireBlock,
} from '@app/chain';
import { CONSORTIUM_FILES } from '@app/control-center';
import { BlsPublicKey, blsVerify, fromHex, RegisteredMeter, type Report, toBase64, toHex } from '@app/crypto';
import { enrolMeters, enrolStandardReceivers, type EnrolledMeter } from '@app/devnet';
import { canonicalJson } from '@app/kernel';
import {
  Block,
  checkInclusionProof,
  decodeHeader,
  encodeBody,
  encodeHeader,
  type InclusionProof,
  slotAt,
  slotStart,
  type Timing,
  Transaction,
} from '@app/ledger';
import {
  createHolderIdentity,
  FleetSimulator,
  MeterReporter,
  STANDARD_DIMENSIONS,
  standardPolicies,
} from '@app/meter-sdk';
import { repoRoot } from '@app/persistence';

import { ADMIN, ConsortiumHarness, ORGANISATIONS, PEER_NODE } from '../../../test/support/consortium-harness';
import { createNodeApp } from '../src/bootstrap';
import { paperForgery } from '../../../test/support/forgery';

const run = promisify(execFile);
const RECEIVERS = {
  controlCenter: 'cc-analytics',
  gridOperator: 'operator-billing',
  equipmentSupplier: 'supplier-maintenance',
};

/** The cbsg command line, as a user runs it; resolves with its exit code and output. */
async function cbsg(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(
      process.execPath,
      ['-r', '@swc-node/register', path.join(repoRoot(), 'apps/cli/src/main.ts'), ...args],
      { cwd: repoRoot(), timeout: 60_000 },
    );
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('the chain on a node: finality, queries, proofs, refused blocks, verify-chain', () => {
  let harness: ConsortiumHarness;
  let timing: Timing;
  let meters: EnrolledMeter[];
  const simulator = new FleetSimulator({ seed: 5, meters: 3 });
  let finalReports: Report[] = [];

  const delegateKey = (id: string) => harness.consortium.delegateKeys.get(id)!;
  const genesisFile = () => path.join(harness.dir, CONSORTIUM_FILES.genesis);

  async function status(): Promise<{
    head: { height: string; hash: string; slot: string };
    final: { height: string };
  }> {
    return (await harness.get('/chain/status')).body as never;
  }

  async function sendBlock(wire: WireBlock): Promise<{ status: number; body: Record<string, unknown> }> {
    return harness.sendAsPeer('block', { block: wire });
  }

  beforeAll(async () => {
    harness = await ConsortiumHarness.start();
    timing = harness.timing;
    const ctx = harness.enrolment();
    await enrolStandardReceivers(ctx, RECEIVERS, ORGANISATIONS);
    const policies = standardPolicies(RECEIVERS);
    meters = await enrolMeters(
      ctx,
      simulator.meters.map((m, i) => ({
        meterId: m.meterId,
        registrar: ORGANISATIONS.gridOperator,
        dimensions: STANDARD_DIMENSIONS,
        policy: policies[i % policies.length]!,
        epoch: { maxReports: 4, maxAgeMs: 3_600_000 },
        owner: { name: `owner ${i}`, notifyUrl: `https://phones.example/${i}` },
      })),
    );
  });

  afterAll(async () => {
    await harness?.stop();
  });

  it('given reports accepted by the node, should make them final, say so for each, and serve proofs that check offline', async () => {
    const now = Date.now();
    const reports = meters.flatMap((m) =>
      [0, 1].map((k) => m.reporter.report(simulator.reading(m.spec.meterId, now + k), now + k)),
    );
    const accepted = await harness.post('/reports/batch', { reports: reports.map((r) => r.toJSON()) });
    expect(accepted.body).toMatchObject({ accepted: reports.length, rejected: 0 });
    for (const report of reports) {
      await harness.waitFor(`/transactions/${report.idHex}`, (b) => b.status === 'final');
    }
    finalReports = reports;

    // Each step of a block's handling is timed, so that a slow chain queue can be told apart.
    const metrics = await (await fetch(`${harness.nodeUrl}/metrics`)).text();
    for (const step of ['select', 'validate', 'store', 'vote', 'finalize']) {
      expect(metrics).toMatch(new RegExp(`cbsg_chain_block_step_seconds_count\\{step="${step}"\\} [1-9]`));
    }

    const report = reports[0]!;
    const where = (await harness.get(`/transactions/${report.idHex}`)).body as {
      height: string;
      blockHash: string;
      kind: string;
    };
    expect(where.kind).toBe('report');
    const stored = (await harness.get(`/reports/${report.idHex}`)).body as Record<string, unknown>;
    expect(stored).toMatchObject({ status: 'final', height: where.height, blockHash: where.blockHash });
    expect((stored.report as { meterId: string }).meterId).toBe(report.meterId);

    const block = (await harness.get(`/blocks/${where.height}`)).body as {
      hash: string;
      transactions: Array<{ hash: string }>;
    };
    expect(block.hash).toBe(where.blockHash);
    expect(block.transactions.map((t) => t.hash)).toContain(report.idHex);
    const page = (await harness.get('/blocks?limit=2')).body as {
      blocks: Array<{ height: string }>;
      next: string | null;
    };
    expect(page.blocks).toHaveLength(2);
    expect(BigInt(page.blocks[0]!.height)).toBeGreaterThan(BigInt(page.blocks[1]!.height));
    expect((await harness.get('/blocks?limit=0')).status).toBe(400);
    expect((await harness.get('/blocks/not-a-height')).status).toBe(400);
    expect((await harness.get('/blocks/999999999')).status).toBe(404);
    expect((await harness.get(`/transactions/${'ab'.repeat(31)}`)).status).toBe(400);
    expect((await harness.get(`/transactions/${'ab'.repeat(32)}`)).body).toEqual({
      status: 'unknown',
      hash: 'ab'.repeat(32),
    });

    // Catch-up pages (GET /p2p/blocks): a peer that asks for fewer transactions gets fewer blocks,
    // but always the first one whole, so that a node behind its peers still moves on.
    await harness.waitFor(
      '/chain/status',
      (b) => BigInt((b as unknown as ChainStatus).final.height) >= BigInt(where.height) + 2n,
    );
    const catchUpPage = async (transactions: number) =>
      (await harness.get(`/p2p/blocks?from=${where.height}&transactions=${transactions}`, ADMIN))
        .body as WireBlock[];
    expect((await catchUpPage(CATCH_UP_PAGE_TRANSACTIONS)).length).toBeGreaterThanOrEqual(3);
    const onePage = await catchUpPage(1);
    expect(onePage).toHaveLength(1);
    expect(decodeHeader(fromHex(onePage[0]!.header, 'header'))).toMatchObject({
      height: BigInt(where.height),
      transactionCount: reports.length,
    });
    // A page asked for with parameters it cannot use is refused and names them, never guessed at.
    for (const [query, parameter] of [
      ['from=0', 'from'],
      ['from=one', 'from'],
      ['limit=0', 'limit'],
      ['limit=201', 'limit'],
      ['limit=1&limit=2', 'limit'],
      ['transactions=0', 'transactions'],
      [`transactions=${CATCH_UP_PAGE_TRANSACTIONS + 1}`, 'transactions'],
    ] as const) {
      expect(await harness.get(`/p2p/blocks?${query}`, ADMIN)).toMatchObject({
        status: 400,
        body: { code: 'REQUEST.INVALID_PARAMETER', details: { parameter } },
      });
    }

    // The proof, offline: with the genesis keys, and against a changed header.
    const proof = (await harness.get(`/tx/${report.idHex}/proof`)).body as InclusionProof;
    const genesisKeys = new Map(
      harness.consortium.genesis.delegates.map((d) => [
        d.id,
        BlsPublicKey.fromBytes(fromHex(d.publicKey, 'key', 48)),
      ]),
    );
    expect(checkInclusionProof(proof, { producerKey: (id) => genesisKeys.get(id) })).toMatchObject({
      ok: true,
      height: BigInt(where.height),
      producerSignatureChecked: true,
    });
    const header = decodeHeader(fromHex(proof.block.header, 'header'));
    const changedHeader = toHex(encodeHeader({ ...header, transactionCount: header.transactionCount + 1 }));
    expect(checkInclusionProof(proof, { header: changedHeader })).toMatchObject({ ok: false });

    const proofFile = path.join(harness.dir, 'proof.json');
    await writeFile(proofFile, JSON.stringify(proof));
    const valid = await cbsg(['verify-proof', proofFile, '--genesis', genesisFile()]);
    expect(valid).toMatchObject({
      code: 0,
      stdout: expect.stringContaining(`valid: the transaction is in block ${where.height}`),
    });
    const invalid = await cbsg(['verify-proof', proofFile, '--header', changedHeader]);
    expect(invalid).toMatchObject({ code: 2, stdout: expect.stringContaining('INVALID') });
    expect((await harness.get(`/tx/${'cd'.repeat(32)}/proof`)).status).toBe(404);

    // The signed head digest checks with the node's genesis key.
    const digest = (await harness.get('/chain/digest')).body as HeadDigest;
    const nodeKey = harness.consortium.genesis.nodes.find((n) => n.id === 'node-1')!.publicKey;
    const { signature, ...fields } = digest;
    expect(
      blsVerify(
        BlsPublicKey.fromBytes(fromHex(nodeKey, 'key', 48)),
        { tag: HEAD_DIGEST_TAG, chainId: harness.chainId },
        Buffer.from(canonicalJson(fields)),
        fromHex(signature, 'signature', 96),
      ),
    ).toBe(true);
    expect(BigInt(digest.finalHeight)).toBeGreaterThanOrEqual(BigInt(where.height));
  });

  it("given a peer's gossip and a block larger than other requests may be (over 256 KB), should take both, and neither check nor store again a block's reports gossiped after it", async () => {
    const intakeChecks = async () =>
      Number(
        /cbsg_report_signatures_checked_total\{purpose="intake"\} (\d+)/.exec(
          await (await fetch(`${harness.nodeUrl}/metrics`)).text(),
        )?.[1] ?? 0,
      );
    const now = Date.now();
    const fresh = (offset: number) =>
      meters.flatMap((m) =>
        Array.from({ length: 100 }, (_, k) =>
          m.reporter.report(simulator.reading(m.spec.meterId, now + offset + k), now + offset + k),
        ),
      );
    const gossiped = fresh(0);
    const payload = { reports: gossiped.map((r) => toBase64(r.bytes)) };
    expect(JSON.stringify(payload).length).toBeGreaterThan(256 * 1024);
    expect(await harness.sendAsPeer('reports', payload)).toMatchObject({ status: 202 });
    for (const report of gossiped) {
      expect((await harness.get(`/transactions/${report.idHex}`)).body).toMatchObject({
        status: expect.stringMatching(/^(pending|included|final)$/),
      });
    }

    // A block of as many others, from its producer. The node's own block may take the slot first, or
    // come while ours is on its way and leave ours on a stale head, which then loses: the next slot.
    const inBlock = fresh(1_000);
    const attempts: string[] = [];
    let final = false;
    for (let attempt = 0; attempt < 10 && !final; attempt += 1) {
      const { slot, producer } = await harness.upcomingSlot();
      const block = await harness.blockOnHead(
        slot,
        producer,
        inBlock.map((report) => ({ type: 'report', report })),
      );
      const answer = await sendBlock(blockToWire(block));
      expect(answer.status).not.toBe(413);
      // How each attempt ended, in the failure message: one CI run ended all ten without a final block.
      attempts.push(`slot ${slot}: ${answer.status} ${JSON.stringify(answer.body.code ?? null)}`);
      if (answer.status === 202) {
        // Gossip of the same reports, late, while the block is not final yet: the block holds them.
        const before = await intakeChecks();
        const late = { reports: inBlock.map((r) => toBase64(r.bytes)) };
        expect(await harness.sendAsPeer('reports', late)).toMatchObject({ status: 202 });
        expect(await intakeChecks()).toBe(before);
        const { rows } = await harness.db.pool.query<{ n: string }>(
          'SELECT count(*) AS n FROM mempool_reports WHERE id = ANY($1::bytea[])',
          [inBlock.map((r) => Buffer.from(r.id))],
        );
        expect(rows[0]!.n).toBe('0');
      }
      final =
        answer.status === 202 &&
        (await harness
          .waitFor(`/transactions/${inBlock[0]!.idHex}`, (b) => b.status === 'final', 10_000)
          .then(
            () => true,
            () => false,
          ));
    }
    expect({ final, attempts }).toMatchObject({ final: true });
  });

  it('given forged blocks from a peer (bad signature, wrong producer, wrong Merkle root, a forged report, a second block for a slot, a rewrite of a final block), should refuse each with its reason', async () => {
    const meter = meters[0]!;
    const meterView = (await harness.get(`/meters/${meter.spec.meterId}`)).body as {
      publicKey: string;
      alpha: string;
    };
    const victim = RegisteredMeter.register(harness.params, {
      id: meter.spec.meterId,
      publicKey: fromHex(meterView.publicKey, 'Y', 48),
      alpha: fromHex(meterView.alpha, 'alpha', 48),
    });
    const now = Date.now();
    const original = meter.reporter.report(simulator.reading(meter.spec.meterId, now), now);
    const forgedReport = paperForgery(harness.params, victim, original, {
      timestamp: now,
      nonce: 9_000_001n,
    });

    // bad signature: a valid block with another block's signature
    let { slot, producer } = await harness.upcomingSlot();
    const valid = await harness.blockOnHead(slot, producer, []);
    const other = await harness.blockOnHead(slot, producer, [{ type: 'report', report: original }]);
    const badSignature = await sendBlock({ ...blockToWire(valid), signature: toHex(other.signature) });
    expect(badSignature).toMatchObject({ status: 422, body: { code: 'BLOCK.BAD_SIGNATURE' } });

    // wrong producer: signed by a delegate whose slot it is not
    ({ slot, producer } = await harness.upcomingSlot());
    const intruder = ['delegate-1', 'delegate-2', 'delegate-3'].find((d) => d !== producer)!;
    const wrongProducer = await sendBlock(
      blockToWire(await harness.blockOnHead(slot, intruder, [], intruder)),
    );
    expect(wrongProducer).toMatchObject({ status: 422, body: { code: 'BLOCK.WRONG_PRODUCER' } });

    // wrong Merkle root: a signed header with a body it does not describe
    ({ slot, producer } = await harness.upcomingSlot());
    const empty = await harness.blockOnHead(slot, producer, []);
    const wrongRoot = await sendBlock({
      ...blockToWire(empty),
      body: toBase64(encodeBody([{ type: 'report', report: original }])),
    });
    expect(wrongRoot).toMatchObject({ status: 422, body: { code: 'BLOCK.BAD_BODY' } });

    // a report with a bad signature inside a well-signed block (the paper's forgery)
    ({ slot, producer } = await harness.upcomingSlot());
    const withForgery = await sendBlock(
      blockToWire(await harness.blockOnHead(slot, producer, [{ type: 'report', report: forgedReport }])),
    );
    expect(withForgery).toMatchObject({ status: 422, body: { code: 'BLOCK.BAD_REPORT_SIGNATURE' } });

    // a second block for a slot: the first (valid, ours) is taken, its rival with other entries refused
    // (under load the node's own block may take the slot first: then try the next one)
    let taken: Block | undefined;
    for (let attempt = 0; attempt < 10 && !taken; attempt += 1) {
      ({ slot, producer } = await harness.upcomingSlot());
      const candidate = await harness.blockOnHead(slot, producer, []);
      taken = (await sendBlock(blockToWire(candidate))).status === 202 ? candidate : undefined;
    }
    expect(taken).toBeDefined();
    const rival = Block.produce(
      { ...taken!.header, parentCertificate: null },
      [{ type: 'report', report: original }],
      delegateKey(producer),
    );
    expect(await sendBlock(blockToWire(rival))).toMatchObject({
      status: 422,
      body: { code: 'BLOCK.EQUIVOCATION' },
    });

    // another block at a final height
    const first = decodeHeader(
      fromHex(
        ((await harness.get('/p2p/blocks?from=1&limit=1', ADMIN)).body as WireBlock[])[0]!.header,
        'header',
      ),
    );
    const rewrite = Block.produce(
      { ...first, timestamp: first.timestamp + 1 },
      [],
      delegateKey(first.producer),
    );
    expect(await sendBlock(blockToWire(rewrite))).toMatchObject({
      status: 422,
      body: { code: 'BLOCK.CONFLICTS_WITH_FINAL' },
    });

    // and messages from outside the consortium, or not signed by their sender
    const strangerKey = harness.consortium.delegateKeys.get('delegate-1')!;
    expect(
      await harness.sendAsPeer('block', { block: blockToWire(valid) }, { id: 'node-9', key: strangerKey }),
    ).toMatchObject({
      status: 403,
      body: { code: 'P2P.UNKNOWN_SENDER' },
    });
    expect(
      await harness.sendAsPeer('block', { block: blockToWire(valid) }, { id: PEER_NODE, key: strangerKey }),
    ).toMatchObject({
      status: 401,
      body: { code: 'P2P.BAD_MAC' },
    });
    // and a node does not start with a peer it shares no key with (a stranger, or itself)
    for (const peer of ['node-9', 'node-1']) {
      const app = await createNodeApp({ env: { ...harness.nodeEnv, PEERS: `${peer}=http://127.0.0.1:9` } });
      await expect(app.init()).rejects.toThrow(
        new RegExp(`PEERS names ${peer}, which is not another node of the genesis`),
      );
      await app.close().catch(() => undefined);
    }

    // votes whose list of voters cannot be taken: refused with the reason, before any check of keys
    const vote = { height: '1', blockHash: toHex(valid.hash), signature: toHex(valid.signature) };
    for (const [voters, reason] of [
      [['delegate-1', 'delegate-1'], /each voter once/],
      [[], /1 to 1000 voters/],
      ['delegate-1', /in an array/],
    ] as const) {
      expect(await harness.sendAsPeer('votes', { votes: [{ ...vote, voters }] })).toMatchObject({
        status: 400,
        body: { code: 'QUORUM.INVALID', message: expect.stringMatching(reason) },
      });
    }

    // None of it changed the chain: the refused reports are nowhere.
    expect((await harness.get(`/transactions/${forgedReport.idHex}`)).body).toMatchObject({
      status: 'unknown',
    });
    const metrics = await (await fetch(`${harness.nodeUrl}/metrics`)).text();
    expect(metrics).toMatch(/cbsg_blocks_refused_total\{reason="BLOCK.BAD_REPORT_SIGNATURE"\} 1/);
    // Each peer message is counted with its outcome, and what opening it cost is timed.
    expect(metrics).toMatch(/cbsg_p2p_messages_total\{type="block",outcome="P2P.UNKNOWN_SENDER"\} 1\n/);
    expect(metrics).toMatch(/cbsg_p2p_messages_total\{type="block",outcome="P2P.BAD_MAC"\} 1\n/);
    expect(metrics).toMatch(
      /cbsg_p2p_messages_total\{type="block",outcome="BLOCK.CONFLICTS_WITH_FINAL"\} [1-9]/,
    );
    expect(metrics).toMatch(/cbsg_p2p_messages_total\{type="block",outcome="accepted"\} [1-9]/);
    expect(metrics).toMatch(/cbsg_p2p_envelope_seconds_count\{type="block"\} [1-9]/);
  });

  it("given blocks that break the chain's rules (unknown parent, slot not after its parent's, slot not started, a transaction twice, a report already final, a nonce used again), should refuse each with its reason", async () => {
    const meter = meters[1]!;
    const now = Date.now();
    const final = meter.reporter.report(simulator.reading(meter.spec.meterId, now), now);
    expect((await harness.post('/reports', final.toJSON())).status).toBe(201);
    await harness.waitFor(`/transactions/${final.idHex}`, (b) => b.status === 'final');
    const fresh = meter.reporter.report(simulator.reading(meter.spec.meterId, now + 1), now + 1);
    // The same meter and nonce as the final report, honestly signed: a replay under a new id.
    const listing = (await harness.get('/receivers')).body as Parameters<
      typeof MeterReporter.create
    >[0]['receivers'];
    const replay = MeterReporter.create({
      params: harness.params,
      key: meter.key,
      registration: meter.reporter.registration,
      receivers: listing,
      nextNonce: final.nonce,
    }).report(simulator.reading(meter.spec.meterId, now + 2), now + 2);
    expect(replay.idHex).not.toBe(final.idHex);

    const refusal = async (block: Block) => (await sendBlock(blockToWire(block))).body.code;
    const head = (await status()).head;
    let { slot, producer } = await harness.upcomingSlot();
    const orphan = Block.produce(
      {
        chainId: harness.chainId,
        height: BigInt(head.height) + 1n,
        previousHash: new Uint8Array(32).fill(7),
        slot,
        timestamp: slotStart(timing, slot),
        producer,
        parentCertificate: null,
      },
      [],
      delegateKey(producer),
    );
    expect(await refusal(orphan)).toBe('BLOCK.UNKNOWN_PARENT');

    const now2 = (await status()).head;
    const sameSlot = Block.produce(
      {
        chainId: harness.chainId,
        height: BigInt(now2.height) + 1n,
        previousHash: fromHex(now2.hash, 'head', 32),
        slot: BigInt(now2.slot),
        timestamp: slotStart(timing, BigInt(now2.slot)),
        producer,
        parentCertificate: null,
      },
      [],
      delegateKey(producer),
    );
    expect(await refusal(sameSlot)).toBe('BLOCK.BAD_SLOT');

    const later = slotAt(timing, Date.now()) + 5n;
    expect(await refusal(await harness.blockOnHead(later, producer, []))).toBe('BLOCK.FUTURE_SLOT');

    ({ slot, producer } = await harness.upcomingSlot());
    const twice = await harness.blockOnHead(slot, producer, [
      { type: 'report', report: fresh },
      { type: 'report', report: fresh },
    ]);
    expect(await refusal(twice)).toBe('BLOCK.DUPLICATE_TRANSACTION');
    ({ slot, producer } = await harness.upcomingSlot());
    expect(
      await refusal(await harness.blockOnHead(slot, producer, [{ type: 'report', report: final }])),
    ).toBe('BLOCK.DUPLICATE_TRANSACTION');
    ({ slot, producer } = await harness.upcomingSlot());
    expect(
      await refusal(await harness.blockOnHead(slot, producer, [{ type: 'report', report: replay }])),
    ).toBe('BLOCK.REPLAYED_REPORT');

    // None of them left a trace: the replay is unknown and the final report is in one block only.
    expect((await harness.get(`/transactions/${replay.idHex}`)).body).toMatchObject({ status: 'unknown' });
    const { rows } = await harness.db.pool.query<{ n: string }>(
      'SELECT count(*) AS n FROM block_transactions WHERE hash = $1',
      [Buffer.from(final.id)],
    );
    expect(rows[0]!.n).toBe('1');
  });

  it('given reports gossiped by a peer, when a block then carries them, should take the block without checking their signatures again', async () => {
    const checks = async (purpose: 'intake' | 'block') =>
      Number(
        new RegExp(`cbsg_report_signatures_checked_total\\{purpose="${purpose}"\\} (\\d+)`).exec(
          await (await fetch(`${harness.nodeUrl}/metrics`)).text(),
        )?.[1] ?? 0,
      );
    // The node's own block may take the gossiped reports first (or its block the slot): then again
    // with new reports, so that the block that is taken carries reports only gossip has checked.
    let carried: Report[] | undefined;
    for (let attempt = 0; attempt < 10 && !carried; attempt += 1) {
      const now = Date.now();
      const gossiped = meters.flatMap((m) =>
        Array.from({ length: 5 }, (_, k) =>
          m.reporter.report(simulator.reading(m.spec.meterId, now + k), now + k),
        ),
      );
      const { slot, producer } = await harness.upcomingSlot();
      const intakeBefore = await checks('intake');
      expect(
        await harness.sendAsPeer('reports', { reports: gossiped.map((r) => toBase64(r.bytes)) }),
      ).toMatchObject({ status: 202 });
      expect(await checks('intake')).toBe(intakeBefore + gossiped.length);
      const blockBefore = await checks('block');
      const block = await harness.blockOnHead(
        slot,
        producer,
        gossiped.map((report) => ({ type: 'report', report })),
      );
      const answer = await sendBlock(blockToWire(block));
      if (answer.status === 202) {
        expect(await checks('block')).toBe(blockBefore);
        carried = gossiped;
      } else {
        expect(answer.body.code).toMatch(
          /^BLOCK\.(DUPLICATE_TRANSACTION|UNKNOWN_PARENT|EQUIVOCATION|BAD_SLOT)$/,
        );
      }
    }
    expect(carried).toBeDefined();
    await harness.waitFor(`/transactions/${carried![0]!.idHex}`, (b) => b.status === 'final');
  });

  it('given a block that changes one identity twice (registered, then revoked), should make it final with both changes journalled in order', async () => {
    const sign = (kind: 'meter.register' | 'meter.revoke', body: Record<string, unknown>) =>
      Transaction.sign(
        { chainId: harness.chainId, kind, sender: ORGANISATIONS.gridOperator, timestamp: Date.now(), body },
        harness.organisationKey(ORGANISATIONS.gridOperator),
      );
    // Both go to the mempool early in a slot, so that the next block takes both (the revocation is
    // admitted against the pending registration); if a block fell between them, try another meter.
    let together: string | undefined;
    for (let attempt = 0; attempt < 4 && !together; attempt += 1) {
      const meterId = `meter-twice-${attempt}`;
      const holder = createHolderIdentity(meterId);
      const next = slotAt(timing, Date.now()) + 1n;
      await new Promise((resolve) => setTimeout(resolve, slotStart(timing, next) - Date.now() + 100));
      const register = sign('meter.register', {
        meterId,
        publicKey: holder.publicKey,
        possession: holder.possession,
        dimensions: STANDARD_DIMENSIONS,
        policy: standardPolicies(RECEIVERS)[0],
        epoch: { maxReports: 4, maxAgeMs: 3_600_000 },
        owner: { name: 'owner', notifyUrl: 'https://phones.example/twice' },
      });
      const revoke = sign('meter.revoke', { meterId, reason: 'installed by mistake' });
      expect((await harness.post('/transactions', register.toJSON())).status).toBe(202);
      expect((await harness.post('/transactions', revoke.toJSON())).status).toBe(202);
      // Without the fix, the block holding both never becomes final and this times out.
      await harness.waitFor(`/transactions/${revoke.hashHex}`, (body) => body.status === 'final');
      const [first, second] = await Promise.all(
        [register, revoke].map(
          async (tx) => (await harness.get(`/transactions/${tx.hashHex}`)).body as { height: string },
        ),
      );
      if (first!.height === second!.height) {
        together = meterId;
      }
    }
    expect(together).toBeDefined();
    expect((await harness.get(`/meters/${together}`)).body).toMatchObject({ status: 'revoked' });
    const { rows } = await harness.db.pool.query<{ type: string; stream_version: number }>(
      'SELECT type, stream_version FROM events WHERE stream_id = $1 ORDER BY stream_version',
      [`meter-${together}`],
    );
    expect(rows).toEqual([
      { type: 'registry.meter-registered', stream_version: 1 },
      { type: 'registry.meter-revoked', stream_version: 2 },
    ]);
  });

  it('given every node down for longer than two rounds, when it comes back, should elect the stalled round and go on', async () => {
    const before = await status();
    const roundMs = timing.slotMs * timing.producers;
    await harness.restartNode(3 * roundMs);
    // Nothing final after round r-2 elected the current round: the node elects it from the final chain.
    await harness.waitFor(
      '/chain/status',
      (body) =>
        BigInt((body as { final: { height: string } }).final.height) >= BigInt(before.head.height) + 2n,
    );
    const { currentRound } = (await harness.get('/chain/status')).body as { currentRound: string };
    expect((await harness.get(`/schedule?round=${currentRound}`)).status).toBe(200);
  });

  /** verify-chain through the node's admin endpoint. */
  async function verifyChain(): Promise<{
    ok: boolean;
    blocksChecked: number;
    reportsChecked: number;
    firstBad: { height: string; reason: string };
  }> {
    return (await harness.post('/chain/verify', {}, await harness.adminAuthorization())).body as never;
  }

  /** One statement as the database's owner can run it, with the append-only triggers off. */
  async function editBehindTriggers(statement: string, params: unknown[]): Promise<void> {
    const sql = new Client({ connectionString: harness.db.url });
    await sql.connect();
    try {
      await sql.query('BEGIN');
      await sql.query('SET LOCAL session_replication_role = replica');
      await sql.query(statement, params);
      await sql.query('COMMIT');
    } finally {
      await sql.end();
    }
  }

  it("given a column derived from a block's signed bytes edited in SQL (a report's nonce, a block's slot, a share), verify-chain should name that block, and pass again once it is put back", async () => {
    // Runs before the edits below, which it leaves the chain ready for: each edit is put back.
    expect(await verifyChain()).toMatchObject({ ok: true });
    const { rows } = await harness.db.pool.query<{
      height: string;
      position: number;
      nonce: string;
      receiver: string;
    }>(
      `SELECT t.height, t.position, t.nonce::text AS nonce, s.receiver_id AS receiver FROM block_transactions t
       JOIN block_shares s ON s.height = t.height AND s.position = t.position
       WHERE t.kind = 'report' ORDER BY t.height LIMIT 1`,
    );
    expect(rows).toHaveLength(1);
    const { height, position, nonce, receiver } = rows[0]!;
    const edits: Array<{ edit: [string, unknown[]]; undo: [string, unknown[]]; reason: string }> = [
      {
        // The replay check reads the final nonces from this column.
        edit: [
          'UPDATE block_transactions SET nonce = nonce + 1000000007 WHERE height = $1 AND position = $2',
          [height, position],
        ],
        undo: [
          'UPDATE block_transactions SET nonce = $3 WHERE height = $1 AND position = $2',
          [height, position, nonce],
        ],
        reason: 'meter, nonce or receivers',
      },
      {
        // The node resumes from its final tip's slot.
        edit: ['UPDATE blocks SET slot = slot + 1000000 WHERE height = $1', [height]],
        undo: ['UPDATE blocks SET slot = slot - 1000000 WHERE height = $1', [height]],
        reason: 'slot',
      },
      {
        // A receiver finds its shares through this index.
        edit: [
          'DELETE FROM block_shares WHERE height = $1 AND position = $2 AND receiver_id = $3',
          [height, position, receiver],
        ],
        undo: [
          'INSERT INTO block_shares (height, position, receiver_id) VALUES ($1, $2, $3)',
          [height, position, receiver],
        ],
        reason: 'share index',
      },
    ];
    for (const { edit, undo, reason } of edits) {
      await editBehindTriggers(...edit);
      expect(await verifyChain()).toMatchObject({
        ok: false,
        firstBad: { height, reason: expect.stringContaining(reason) },
      });
      await editBehindTriggers(...undo);
      expect(await verifyChain()).toMatchObject({ ok: true });
    }
  });

  it('given a block edited in SQL behind the triggers, verify-chain (endpoint and command) should name its height', async () => {
    const before = await verifyChain();
    expect(before).toMatchObject({ ok: true });
    expect(before.reportsChecked).toBeGreaterThanOrEqual(finalReports.length);
    const clean = await cbsg([
      'verify-chain',
      '--database-url',
      harness.db.url,
      '--genesis',
      genesisFile(),
      '--workers',
      '1',
    ]);
    expect(clean).toMatchObject({ code: 0, stdout: expect.stringContaining('chain valid') });

    const target = (await harness.get(`/transactions/${finalReports[2]!.idHex}`)).body as {
      height: string;
      position: number;
    };
    // The application cannot edit the final chain...
    await expect(
      harness.db.pool.query('UPDATE block_transactions SET bytes = bytes WHERE height = $1', [target.height]),
    ).rejects.toThrow(/append-only/);
    // ...but the database owner can, with the triggers off: change one byte of a stored report.
    const { rows } = await harness.db.pool.query<{ position: number; bytes: Buffer }>(
      "SELECT position, bytes FROM block_transactions WHERE height = $1 AND kind = 'report' ORDER BY position LIMIT 1",
      [target.height],
    );
    const bytes = Buffer.from(rows[0]!.bytes);
    const at = bytes.length - 100;
    bytes[at] = bytes[at]! ^ 0x01;
    await editBehindTriggers('UPDATE block_transactions SET bytes = $1 WHERE height = $2 AND position = $3', [
      bytes,
      target.height,
      rows[0]!.position,
    ]);

    const after = await verifyChain();
    expect(after).toMatchObject({ ok: false, firstBad: { height: target.height } });
    const dirty = await cbsg([
      'verify-chain',
      '--database-url',
      harness.db.url,
      '--genesis',
      genesisFile(),
      '--workers',
      '1',
    ]);
    expect(dirty).toMatchObject({
      code: 2,
      stdout: expect.stringContaining(`CHAIN INVALID at height ${target.height}`),
    });
  });

  it('given a stored quorum certificate edited in SQL, verify-chain should name its block', async () => {
    // Runs after the report edit above: a certificate below that height is named first.
    const { firstBad } = await verifyChain();
    const { rows } = await harness.db.pool.query<{ height: string; certificate: Buffer }>(
      'SELECT height, certificate FROM block_certificates WHERE height < $1 ORDER BY height DESC LIMIT 1',
      [firstBad.height],
    );
    expect(rows).toHaveLength(1);
    const edited = rows[0]!.height;
    // The certified block hash (after the 8-byte height): the votes were not cast for it.
    const certificate = Buffer.from(rows[0]!.certificate);
    certificate[8] = certificate[8]! ^ 0x01;
    await editBehindTriggers('UPDATE block_certificates SET certificate = $1 WHERE height = $2', [
      certificate,
      edited,
    ]);
    expect(await verifyChain()).toMatchObject({
      ok: false,
      firstBad: { height: edited, reason: expect.stringContaining('quorum certificate') },
    });
  });

  it("given another block's valid certificate copied into a block's row, verify-chain should name that block", async () => {
    // Runs after the edits above: the copy goes below the first bad height they left.
    const { firstBad } = await verifyChain();
    const { rows } = await harness.db.pool.query<{ height: string; certificate: Buffer }>(
      'SELECT height, certificate FROM block_certificates WHERE height < $1 ORDER BY height LIMIT 2',
      [firstBad.height],
    );
    expect(rows).toHaveLength(2);
    const target = rows[0]!.height;
    await editBehindTriggers('UPDATE block_certificates SET certificate = $1 WHERE height = $2', [
      rows[1]!.certificate,
      target,
    ]);
    expect(await verifyChain()).toMatchObject({
      ok: false,
      firstBad: { height: target, reason: expect.stringContaining('quorum certificate') },
    });
  });
});
