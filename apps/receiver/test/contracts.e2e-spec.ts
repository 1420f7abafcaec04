import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

import type { INestApplication } from '@nestjs/common';
import { Registry } from 'prom-client';

import { parseReceiverConfig } from '@app/config';
import {
  compileContract,
  GRID_OPERATOR_FEEDBACK_CONTRACT,
  instantiateContract,
  WATER_HEATER_CONTRACT_EXAMPLE,
} from '@app/contracts';
import { CONSORTIUM_FILES } from '@app/control-center';
import { BlsPublicKey, blsGenerateKey, blsSign, toHex } from '@app/crypto';
import { enrolMeters, enrolReceiver, type EnrolledMeter } from '@app/devnet';
import { Transaction } from '@app/ledger';
import type { ContractResultBody, ContractResultEntry } from '@app/registry';
import { FleetSimulator, STANDARD_DIMENSIONS } from '@app/meter-sdk';
import { createTestDatabase, type TestDatabase } from '@app/testing';

import { ConsortiumHarness, ORGANISATIONS, TEST_PASSPHRASE } from '../../../test/support/consortium-harness';
import { createReceiverApp } from '../src/bootstrap';
import { ContractResultPublisher, SENDS_IN_FLIGHT } from '../src/contract-result-publisher';
import { chainAction, DEFAULT_ACCOUNT, deliveredActions, METER_COMMANDS_TAG } from '../src/feedback-contract';
import { verifyNotification } from '../src/notification-signature';
import { SentTransactions } from '../src/sent-transactions';

const OPERATOR = 'operator-billing';

/** The contract results on the node's final chain, each with the transaction that carries it. */
async function chainResults(pool: {
  query: TestDatabase['pool']['query'];
}): Promise<Array<{ tx: Transaction; result: ContractResultEntry }>> {
  const { rows } = await pool.query<{ bytes: Buffer }>(
    `SELECT bytes FROM block_transactions WHERE kind = 'contract.result' ORDER BY height, position`,
  );
  return rows.flatMap((r) => {
    const tx = Transaction.decode(r.bytes);
    return (tx.body as ContractResultBody).results.map((result) => ({ tx, result }));
  });
}

interface Delivery {
  key: string;
  status: number;
  body: { meterId: string; action: { id: string; type: string } };
  verified: boolean;
}

describe("the grid operator's feedback contract: evaluated per share, on the chain, delivered once", () => {
  let harness: ConsortiumHarness;
  let db: TestDatabase;
  let operator: INestApplication;
  let operatorUrl: string;
  let webhook: Server;
  let meters: EnrolledMeter[];
  const deliveries: Delivery[] = [];
  const attempts = new Map<string, number>();
  /** Meters whose owner's endpoint refuses every notification (the dead-letter test). */
  const unreachableOwners = new Set<string>();
  const simulator = new FleetSimulator({ seed: 9, meters: 3 });
  /** Each meter's owner has a key of its own, for its device contracts (paper III.F). */
  let ownerKeys: Array<ReturnType<typeof blsGenerateKey>>;

  function readBody(request: IncomingMessage): Promise<string> {
    return new Promise((resolve) => {
      let text = '';
      request.on('data', (chunk: Buffer) => (text += chunk.toString()));
      request.on('end', () => resolve(text));
    });
  }

  beforeAll(async () => {
    harness = await ConsortiumHarness.start();
    ownerKeys = simulator.meters.map(() => blsGenerateKey());
    // The owners' phones: the first attempt of every action fails (503), the next one is taken.
    webhook = createServer((request, response) => {
      void readBody(request).then((text) => {
        const key = String(request.headers['idempotency-key']);
        const attempt = (attempts.get(key) ?? 0) + 1;
        attempts.set(key, attempt);
        const body = JSON.parse(text) as Delivery['body'];
        const status = unreachableOwners.has(body.meterId) ? 500 : attempt === 1 ? 503 : 200;
        const signer = harness.consortium.genesis.organisations.find(
          (o) => o.id === request.headers['x-cbsg-signer'],
        );
        deliveries.push({
          key,
          status,
          body,
          // Signed by the organisation it names, recently, for the action its Idempotency-Key names.
          verified:
            signer !== undefined &&
            verifyNotification(
              text,
              request.headers,
              BlsPublicKey.fromBytes(Buffer.from(signer.publicKey, 'hex')),
              harness.chainId,
            )?.action.id === key,
        });
        response.writeHead(status).end();
      });
    });
    await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
    const notifyUrl = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/notify`;

    const ctx = harness.enrolment();
    const holder = await enrolReceiver(ctx, {
      id: OPERATOR,
      organisation: ORGANISATIONS.gridOperator,
      role: 'grid-operator',
    });
    const keystore = await harness.writeReceiverKeystore(holder);
    meters = await enrolMeters(
      ctx,
      simulator.meters.map((m, i) => ({
        meterId: m.meterId,
        registrar: ORGANISATIONS.gridOperator,
        dimensions: STANDARD_DIMENSIONS,
        policy: [{ receiver: OPERATOR, dimensions: ['consumption_kwh', 'device_status'] }],
        epoch: { maxReports: 4, maxAgeMs: 3_600_000 },
        owner: { name: `owner ${i}`, notifyUrl, publicKey: toHex(ownerKeys[i]!.publicKey) },
      })),
    );
    db = await createTestDatabase({ poolSize: 2 });
    operator = await createReceiverApp(
      parseReceiverConfig({
        RECEIVER_ID: OPERATOR,
        RECEIVER_KEYSTORE: keystore,
        KEYSTORE_PASSPHRASE: TEST_PASSPHRASE,
        NODE_URL: harness.nodeUrl,
        GENESIS_FILE: path.join(harness.dir, CONSORTIUM_FILES.genesis),
        DATABASE_URL: db.url,
        FOLLOW_POLL_MS: '100',
        CRYPTO_WORKERS: '1',
        CONTRACT: 'grid-operator-feedback',
        ORGANISATION_ID: ORGANISATIONS.gridOperator,
        ORGANISATION_KEYSTORE: path.join(
          harness.dir,
          CONSORTIUM_FILES.organisationKey(ORGANISATIONS.gridOperator),
        ),
        REDIS_URL: 'redis://127.0.0.1:6379',
        QUEUE_PREFIX: `contracts-${process.pid}-${Date.now()}`,
        NOTIFY_ATTEMPTS: '4',
        LOG_LEVEL: process.env.TEST_LOGS ? 'debug' : 'fatal',
      }),
    );
    await operator.listen(0, '127.0.0.1');
    operatorUrl = await operator.getUrl();
  });

  /** What a publisher of this test sends through: to `nodeUrl`, and never swept here. */
  function sentTransactions(pool: TestDatabase['pool'], nodeUrl: string): SentTransactions {
    return new SentTransactions(
      pool,
      {
        receiverId: OPERATOR,
        nodeUrl,
        nodeAuthorization: () => harness.authorization(ORGANISATIONS.gridOperator),
        entryWindowMs: 7 * 24 * 3_600_000,
        resendAfterMs: 60_000,
        retentionMs: 3_600_000,
      },
      new Registry(),
    );
  }

  afterAll(async () => {
    await operator?.close();
    await db?.drop();
    webhook?.close();
    await harness?.stop();
  });

  it('given a meter in serious arrears and two paid up, each report gets its result on the chain and each action reaches the owner once', async () => {
    const account = {
      prepaid: false,
      prepaid_balance: 0,
      prepaid_low_level: 5,
      arrears: 0,
      arrears_level: 20,
      serious_arrears_level: 200,
      threshold_value: 100,
      latest_price: 0.31,
    };
    const arrears = meters[0]!.spec.meterId;
    const put = await harness.fetchAs(ORGANISATIONS.gridOperator, `${operatorUrl}/accounts/${arrears}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...account, arrears: 450 }),
    });
    expect(await put.json()).toMatchObject({ meterId: arrears, version: 1, arrears: 450 });
    for (const meter of meters.slice(1)) {
      await harness.fetchAs(ORGANISATIONS.gridOperator, `${operatorUrl}/accounts/${meter.spec.meterId}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(account),
      });
    }
    const bad = await harness.fetchAs(ORGANISATIONS.gridOperator, `${operatorUrl}/accounts/${arrears}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...account, arrears: -1 }),
    });
    expect(bad.status).toBe(400);

    const now = Date.now();
    const reports = meters.map((m) => m.reporter.report(simulator.reading(m.spec.meterId, now), now));
    // A second report of the first meter: two results for one meter in one block write one journal
    // stream twice in one finalization.
    reports.push(meters[0]!.reporter.report(simulator.reading(meters[0]!.spec.meterId, now + 1), now + 1));
    expect(
      (await harness.post('/reports/batch', { reports: reports.map((r) => r.toJSON()) })).body,
    ).toMatchObject({
      accepted: 4,
    });

    // Every report's result is on the chain, signed by the operator, and re-runs to the same hash.
    const contract = compileContract(
      instantiateContract(GRID_OPERATOR_FEEDBACK_CONTRACT, { owner: ORGANISATIONS.gridOperator }),
    );
    const deadline = Date.now() + 60_000;
    let onChain: Array<{ tx: Transaction; result: ContractResultEntry }> = [];
    while (onChain.length < reports.length && Date.now() < deadline) {
      onChain = await chainResults(harness.db.pool);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(onChain).toHaveLength(reports.length);
    // Published in batches: fewer transactions than results, never a result twice.
    expect(new Set(onChain.map((r) => r.tx.hashHex)).size).toBeLessThanOrEqual(reports.length);
    expect(new Set(onChain.map((r) => r.result.trigger)).size).toBe(reports.length);
    for (const { tx, result } of onChain) {
      expect(tx.sender).toBe(ORGANISATIONS.gridOperator);
      expect(contract.evaluate(result.meterId, result.input, result.trigger).resultHash).toBe(
        result.resultHash,
      );
      const types = result.actions.map((a) => a.type);
      expect(types).toContain(result.meterId === arrears ? 'forced-trip' : 'report-price');
    }

    // Each action reached the owner's endpoint: once accepted (after one refused attempt), signed.
    const actions = onChain.flatMap(({ result }) => result.actions.map((a) => a.id));
    const until = Date.now() + 30_000;
    while (deliveries.filter((d) => d.status === 200).length < actions.length && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const accepted = deliveries.filter((d) => d.status === 200);
    expect(accepted.map((d) => d.key).sort()).toEqual([...actions].sort());
    expect(accepted.every((d) => d.verified)).toBe(true);
    expect(
      accepted.find((d) => d.body.meterId === arrears && d.body.action.type === 'forced-trip'),
    ).toBeDefined();

    // Only the receiver's own organisation may publish its results.
    const forged = await harness.submit(ORGANISATIONS.controlCenter, 'contract.result', onChain[0]!.tx.body);
    expect(forged).toMatchObject({ status: 403, body: { code: 'TX.NOT_ALLOWED' } });
    // A batch is taken whole or not at all: one result for a meter nobody registered refuses it.
    const stray = {
      ...onChain[0]!.result,
      meterId: 'meter-nobody',
      trigger: `report:${'0'.repeat(64)}`,
    };
    const mixed = await harness.submit(ORGANISATIONS.gridOperator, 'contract.result', {
      receiverId: OPERATOR,
      results: [{ ...onChain[0]!.result, trigger: `report:${'1'.repeat(64)}` }, stray],
    });
    expect(mixed).toMatchObject({ status: 404, body: { code: 'REGISTRY.UNKNOWN' } });

    const queues = (await (
      await harness.fetchAs(ORGANISATIONS.gridOperator, `${operatorUrl}/queues`)
    ).json()) as Record<string, { failed: number }>;
    expect(queues.notifications!.failed).toBe(0);
    const metrics = await (
      await harness.fetchAs(ORGANISATIONS.gridOperator, `${operatorUrl}/metrics`)
    ).text();
    expect(metrics).toMatch(/cbsg_receiver_queue_jobs\{queue="notifications",state="completed"\} [1-9]/);
    expect(metrics).toMatch(/cbsg_receiver_queue_jobs\{queue="notifications",state="failed"\} 0/);
  });
  it('given a forced trip for a meter, the meter fetches it signed as itself, acknowledges it once, and nobody else can', async () => {
    const meter = meters[0]!;
    const id = meter.spec.meterId;
    const signed = (what: string, key = meter.holder.keys.secret, timestamp = Date.now()) => ({
      'x-cbsg-timestamp': String(timestamp),
      'x-cbsg-signature': toHex(
        blsSign(
          key,
          { tag: METER_COMMANDS_TAG, chainId: harness.chainId },
          Buffer.from(`${what}:${timestamp}`),
        ),
      ),
    });
    const fetchCommands = (headers: Record<string, string>) =>
      fetch(`${operatorUrl}/meters/${id}/commands`, { headers });

    expect((await fetchCommands({})).status).toBe(401);
    expect((await fetchCommands(signed(`commands:${id}`, meters[1]!.holder.keys.secret))).status).toBe(401);
    expect((await fetchCommands(signed(`commands:${id}`, undefined, Date.now() - 3_600_000))).status).toBe(
      401,
    );

    const commands = (await (await fetchCommands(signed(`commands:${id}`))).json()) as Array<{
      id: string;
      type: string;
    }>;
    expect(commands.map((c) => c.type)).toContain('forced-trip');
    for (const command of commands) {
      const ack = () =>
        fetch(`${operatorUrl}/meters/${id}/commands/${encodeURIComponent(command.id)}/ack`, {
          method: 'POST',
          headers: signed(`ack:${id}:${command.id}`),
        });
      const first = (await (await ack()).json()) as { ackedAt: string };
      const second = (await (await ack()).json()) as { ackedAt: string };
      expect(second.ackedAt).toBe(first.ackedAt);
    }
    expect(await (await fetchCommands(signed(`commands:${id}`))).json()).toEqual([]);
    // A command id no action can have (a NUL: Postgres text holds none) is a 400, never a 500.
    const badId = await fetch(`${operatorUrl}/meters/${id}/commands/a%00b/ack`, {
      method: 'POST',
      headers: signed(`ack:${id}:a\u0000b`),
    });
    expect(badId.status).toBe(400);
    // The paid-up meters run as usual: nothing waits for them.
    const other = meters[1]!.spec.meterId;
    const theirs = await fetch(`${operatorUrl}/meters/${other}/commands`, {
      headers: signed(`commands:${other}`, meters[1]!.holder.keys.secret),
    });
    expect(await theirs.json()).toEqual([]);
  });
  it("given a meter owner's device contract for its own meter, the operator's receiver runs it: result on the chain, appliance command and phone notice once; the owner can do nothing else", async () => {
    const meter = meters[2]!;
    const id = meter.spec.meterId;
    const owner = `owner:${id}`;
    const deploy = (contract: object, key = ownerKeys[2]!.secret, sender = owner, receiverId = OPERATOR) =>
      harness.post(
        '/transactions',
        Transaction.sign(
          {
            chainId: harness.chainId,
            kind: 'contract.deploy',
            sender,
            timestamp: Date.now(),
            body: { receiverId, contract },
          },
          key,
        ).toJSON(),
      );
    const heater = (appliesTo: string[], extra: object = {}) => ({
      ...instantiateContract(WATER_HEATER_CONTRACT_EXAMPLE, {
        owner,
        id: `${owner}/water-heater`,
        appliesTo: { scope: 'meters', meters: appliesTo },
      }),
      ...extra,
    });
    // Refused: another meter's devices, another owner's key, another kind of contract, a receiver
    // that does not get this meter's data, and anything but a contract.
    expect(await deploy(heater([meters[1]!.spec.meterId]))).toMatchObject({
      status: 400,
      body: { code: 'TX.INVALID_BODY' },
    });
    expect((await deploy(heater([id]), ownerKeys[1]!.secret)).status).toBe(401);
    expect(await deploy(heater([id], { kind: 'feedback' }))).toMatchObject({
      status: 403,
      body: { code: 'TX.NOT_ALLOWED' },
    });
    expect(await deploy(heater([id]), undefined, owner, 'cc-analytics')).toMatchObject({ status: 400 });
    const revoke = Transaction.sign(
      {
        chainId: harness.chainId,
        kind: 'meter.revoke',
        sender: owner,
        timestamp: Date.now(),
        body: { meterId: id, reason: 'mine' },
      },
      ownerKeys[2]!.secret,
    );
    expect(await harness.post('/transactions', revoke.toJSON())).toMatchObject({
      status: 403,
      body: { code: 'TX.NOT_ALLOWED' },
    });

    expect((await deploy(heater([id]))).status).toBe(202);
    await harness.waitFor(`/contracts?owner=${encodeURIComponent(owner)}`, (body) =>
      (body as { contracts: Array<{ receiverId: string }> }).contracts.some((c) => c.receiverId === OPERATOR),
    );
    await new Promise((resolve) => setTimeout(resolve, 2_100)); // the receiver looks every 2 s

    // A cheap price switches the heater on (rule "cheap" of the example: price below 0.15).
    const put = await harness.fetchAs(ORGANISATIONS.gridOperator, `${operatorUrl}/accounts/${id}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        prepaid: false,
        prepaid_balance: 0,
        prepaid_low_level: 5,
        arrears: 0,
        arrears_level: 20,
        serious_arrears_level: 200,
        threshold_value: 100,
        latest_price: 0.12,
      }),
    });
    expect(put.status).toBe(200);
    const now = Date.now() + 5;
    const report = meter.reporter.report(simulator.reading(id, now), now);
    expect((await harness.post('/reports', report.toJSON())).status).toBe(201);

    const deadline = Date.now() + 60_000;
    let results: Array<{ tx: Transaction; result: ContractResultEntry }> = [];
    while (results.length < 2 && Date.now() < deadline) {
      results = (await chainResults(harness.db.pool)).filter(
        (r) => r.result.trigger === `report:${report.idHex}`,
      );
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    // Two results for the report: the operator's Algorithm 1 and the owner's device contract,
    // both signed by the operator that ran them; the owner's re-runs to the same hash.
    expect(results.map((r) => r.result.contractId).sort()).toEqual(
      ['grid-operator/feedback', `${owner}/water-heater`].sort(),
    );
    const own = results.find((r) => r.result.contractId !== 'grid-operator/feedback')!;
    expect(own.tx.sender).toBe(ORGANISATIONS.gridOperator);
    // Each names whose contract it ran: ids are their owners' names.
    expect(own.result.contractOwner).toBe(owner);
    expect(results.find((r) => r !== own)!.result.contractOwner).toBe(ORGANISATIONS.gridOperator);
    const body = own.result;
    expect(body.actions.map((a) => a.type)).toEqual(['device-on']);
    expect(compileContract(heater([id])).evaluate(id, body.input, body.trigger).resultHash).toBe(
      body.resultHash,
    );

    // The meter's gateway finds the switch in its command queue; the owner's phone gets it once.
    const timestamp = Date.now();
    const commands = (await (
      await fetch(`${operatorUrl}/meters/${id}/commands`, {
        headers: {
          'x-cbsg-timestamp': String(timestamp),
          'x-cbsg-signature': toHex(
            blsSign(
              meter.holder.keys.secret,
              { tag: METER_COMMANDS_TAG, chainId: harness.chainId },
              Buffer.from(`commands:${id}:${timestamp}`),
            ),
          ),
        },
      })
    ).json()) as Array<{ id: string; type: string }>;
    expect(commands).toContainEqual(expect.objectContaining({ id: body.actions[0]!.id, type: 'device-on' }));
    const until = Date.now() + 30_000;
    const acceptedFor = () => deliveries.filter((d) => d.status === 200 && d.key === body.actions[0]!.id);
    while (acceptedFor().length === 0 && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(acceptedFor()).toHaveLength(1);
    // verify-chain checks the owner's signature on its deployment like any sender's.
    expect((await harness.post('/chain/verify', {}, await harness.adminAuthorization())).body).toMatchObject({
      ok: true,
    });
  });
  it('given a new version of the contract deployed on the chain, later results come from it, and bad deployments are refused', async () => {
    const v2 = instantiateContract(GRID_OPERATOR_FEEDBACK_CONTRACT, {
      owner: ORGANISATIONS.gridOperator,
      version: 2,
    });
    const deploy = (sender: string, contract: unknown) =>
      harness.submit(sender, 'contract.deploy', { receiverId: OPERATOR, contract });
    expect((await deploy(ORGANISATIONS.gridOperator, v2)).status).toBe(202);
    await harness.waitFor('/contracts?id=grid-operator%2Ffeedback', (body) =>
      (body as { contracts: Array<{ version: number }> }).contracts.some((c) => c.version === 2),
    );
    // The same version again, another organisation, a rule set that does not compile: refused.
    expect(await deploy(ORGANISATIONS.gridOperator, v2)).toMatchObject({
      status: 400,
      body: { code: 'TX.INVALID_BODY' },
    });
    expect(
      await deploy(ORGANISATIONS.controlCenter, { ...v2, version: 3, owner: ORGANISATIONS.controlCenter }),
    ).toMatchObject({
      status: 403,
      body: { code: 'TX.NOT_ALLOWED' },
    });
    expect(
      await deploy(ORGANISATIONS.gridOperator, { ...v2, version: 3, functions: 'nothing' }),
    ).toMatchObject({
      status: 400,
      body: { code: 'TX.INVALID_BODY' },
    });

    await new Promise((resolve) => setTimeout(resolve, 2_100)); // the receiver looks every 2 s
    const meter = meters[1]!;
    const now = Date.now();
    const report = meter.reporter.report(simulator.reading(meter.spec.meterId, now), now);
    expect((await harness.post('/reports', report.toJSON())).status).toBe(201);
    const compiled = compileContract(v2);
    const deadline = Date.now() + 60_000;
    let body:
      | {
          contractVersion: number;
          meterId: string;
          input: Record<string, unknown>;
          trigger: string;
          resultHash: string;
        }
      | undefined;
    while (!body && Date.now() < deadline) {
      body = (await chainResults(harness.db.pool))
        .map((r) => r.result)
        .find((b) => b.trigger === `report:${report.idHex}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(body).toMatchObject({ contractVersion: 2 });
    expect(compiled.evaluate(body!.meterId, body!.input, body!.trigger).resultHash).toBe(body!.resultHash);
  });

  it('given a batch that waited out the window before a node took it, signs it again fresh, and its result reaches the chain once', async () => {
    const meterId = meters[2]!.spec.meterId;
    const trigger = `report:${'5a'.repeat(32)}`;
    const contract = compileContract(
      instantiateContract(GRID_OPERATOR_FEEDBACK_CONTRACT, { owner: ORGANISATIONS.gridOperator }),
    );
    const input = { ...DEFAULT_ACCOUNT, tampered: false, meter_value: 0.7 };
    const evaluation = contract.evaluate(meterId, input, trigger);
    const result: ContractResultEntry = {
      contractId: contract.contract.id,
      contractVersion: contract.contract.version,
      meterId,
      trigger,
      input,
      resultHash: evaluation.resultHash,
      actions: deliveredActions(evaluation).map(chainAction),
    };
    // As a receiver leaves a batch it could not send (its node down for longer than the window).
    const stale = Transaction.sign(
      {
        chainId: harness.chainId,
        kind: 'contract.result',
        sender: ORGANISATIONS.gridOperator,
        timestamp: Date.now() - 2 * 3_600_000,
        body: { receiverId: OPERATOR, results: [result] },
      },
      harness.organisationKey(ORGANISATIONS.gridOperator),
    );
    await db.pool.query(
      `INSERT INTO contract_results (receiver_id, trigger, meter_id, contract_id, contract_version, input, result_hash, actions, tx_hash, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now())`,
      [
        OPERATOR,
        trigger,
        meterId,
        result.contractId,
        result.contractVersion,
        JSON.stringify(input),
        result.resultHash,
        JSON.stringify(result.actions),
        Buffer.from(stale.hash),
      ],
    );
    await db.pool.query(
      `INSERT INTO contract_result_batches (receiver_id, tx_hash, tx, results, created_at) VALUES ($1, $2, $3, 1, now())`,
      [OPERATOR, Buffer.from(stale.hash), Buffer.from(stale.encode())],
    );

    const publisher = new ContractResultPublisher(
      db.pool,
      {
        receiverId: OPERATOR,
        organisationId: ORGANISATIONS.gridOperator,
        organisationKey: harness.organisationKey(ORGANISATIONS.gridOperator),
        chainId: harness.chainId,
      },
      sentTransactions(db.pool, harness.nodeUrl),
    );
    await publisher.publish([trigger]);

    const { rows: batches } = await db.pool.query<{ tx_hash: Buffer; accepted: boolean }>(
      `SELECT b.tx_hash, b.accepted_at IS NOT NULL AS accepted FROM contract_result_batches b
       JOIN contract_results r ON r.receiver_id = b.receiver_id AND r.tx_hash = b.tx_hash
       WHERE r.receiver_id = $1 AND r.trigger = $2`,
      [OPERATOR, trigger],
    );
    expect(batches).toHaveLength(1);
    expect(batches[0]!.accepted).toBe(true);
    expect(toHex(batches[0]!.tx_hash)).not.toBe(stale.hashHex);
    const { rows: left } = await db.pool.query('SELECT 1 FROM contract_result_batches WHERE tx_hash = $1', [
      Buffer.from(stale.hash),
    ]);
    expect(left).toHaveLength(0);

    const deadline = Date.now() + 60_000;
    let found: Array<{ tx: Transaction; result: ContractResultEntry }> = [];
    while (found.length === 0 && Date.now() < deadline) {
      found = (await chainResults(harness.db.pool)).filter((r) => r.result.trigger === trigger);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(found).toHaveLength(1);
    expect(found[0]!.tx.hashHex).toBe(toHex(batches[0]!.tx_hash));
    expect(found[0]!.result).toEqual(result);
  });

  it('given results for more transactions than SENDS_IN_FLIGHT, sends that many at once and puts each result on the chain once', async () => {
    // Its own database, so that the operator app's publisher claims none of these results.
    const own = await createTestDatabase({ poolSize: 2 });
    // In front of the node: holds each transaction 300 ms, counting how many wait at once.
    let waiting = 0;
    let mostAtOnce = 0;
    const relay = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        waiting += 1;
        mostAtOnce = Math.max(mostAtOnce, waiting);
        setTimeout(() => {
          waiting -= 1;
          void fetch(`${harness.nodeUrl}${req.url}`, {
            method: req.method,
            headers: { 'content-type': 'application/json' },
            body: Buffer.concat(chunks),
          }).then(async (answer) => {
            res.writeHead(answer.status, { 'content-type': 'application/json' });
            res.end(await answer.text());
          });
        }, 300);
      });
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    try {
      const triggers = Array.from(
        { length: 1_100 },
        (_, i) => `report:${'d'.repeat(56)}${i.toString(16).padStart(8, '0')}`,
      );
      await own.pool.query(
        `INSERT INTO contract_results (receiver_id, trigger, meter_id, contract_id, contract_version, input, result_hash, actions, created_at)
         SELECT $1, t, $3, 'grid-operator/feedback', 1, '{"meter_value":1}', $4, '[]', now() FROM unnest($2::text[]) AS t`,
        [OPERATOR, triggers, meters[0]!.spec.meterId, 'ab'.repeat(32)],
      );
      const publisher = new ContractResultPublisher(
        own.pool,
        {
          receiverId: OPERATOR,
          organisationId: ORGANISATIONS.gridOperator,
          organisationKey: harness.organisationKey(ORGANISATIONS.gridOperator),
          chainId: harness.chainId,
        },
        sentTransactions(own.pool, `http://127.0.0.1:${(relay.address() as AddressInfo).port}`),
      );

      await publisher.publish(triggers);

      const { rows: batches } = await own.pool.query<{ accepted: boolean }>(
        'SELECT accepted_at IS NOT NULL AS accepted FROM contract_result_batches WHERE receiver_id = $1',
        [OPERATOR],
      );
      expect(batches.length).toBeGreaterThan(SENDS_IN_FLIGHT);
      expect(batches.every((b) => b.accepted)).toBe(true);
      expect(mostAtOnce).toBe(SENDS_IN_FLIGHT);
      const wanted = new Set(triggers);
      const deadline = Date.now() + 60_000;
      let onChain: string[] = [];
      while (onChain.length < triggers.length && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        onChain = (await chainResults(harness.db.pool))
          .map((r) => r.result.trigger)
          .filter((t) => wanted.has(t));
      }
      expect(onChain).toHaveLength(triggers.length);
      expect(new Set(onChain).size).toBe(triggers.length);
    } finally {
      relay.close();
      await own.drop();
    }
  });

  it("given an owner's endpoint that takes nothing, each action is posted NOTIFY_ATTEMPTS times in all and then waits in the dead-letter set", async () => {
    const meter = meters[2]!;
    unreachableOwners.add(meter.spec.meterId);
    const queues = async () =>
      (await (await harness.fetchAs(ORGANISATIONS.gridOperator, `${operatorUrl}/queues`)).json()) as Record<
        string,
        Record<string, number>
      >;
    const failedBefore = (await queues()).notifications!.failed!;
    const now = Date.now();
    const report = meter.reporter.report(simulator.reading(meter.spec.meterId, now), now);
    expect((await harness.post('/reports/batch', { reports: [report.toJSON()] })).body).toMatchObject({
      accepted: 1,
    });

    const trigger = `report:${report.idHex}`;
    let actionIds: string[];
    const deadline = Date.now() + 60_000;
    for (;;) {
      // Algorithm 1's result, and the owner's device contract's if this meter has one.
      actionIds = (await chainResults(harness.db.pool))
        .filter((r) => r.result.trigger === trigger)
        .flatMap((r) => r.result.actions.map((a) => a.id));
      const dead = (await queues()).notifications!.failed! - failedBefore;
      if ((actionIds.length > 0 && dead === actionIds.length) || Date.now() > deadline) {
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(actionIds.length).toBeGreaterThan(0);
    // Four attempts each (NOTIFY_ATTEMPTS: the first with its block, three alone), none taken, none more.
    expect(actionIds.map((id) => attempts.get(id))).toEqual(actionIds.map(() => 4));
    expect((await queues()).notifications).toMatchObject({
      failed: failedBefore + actionIds.length,
      waiting: 0,
      delayed: 0,
    });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(actionIds.map((id) => attempts.get(id))).toEqual(actionIds.map(() => 4));
  });
});
