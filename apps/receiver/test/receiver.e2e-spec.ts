import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

import type { INestApplication } from '@nestjs/common';

import { parseReceiverConfig } from '@app/config';
import { CONSORTIUM_FILES } from '@app/control-center';
import { type MeterSigncrypter, type Report } from '@app/crypto';
import { enrolMeters, enrolReceiver, type EnrolledMeter } from '@app/devnet';
import {
  encodeDimension,
  FleetSimulator,
  type ShareRule,
  STANDARD_DIMENSIONS,
  standardPolicies,
} from '@app/meter-sdk';
import { createTestDatabase, type TestDatabase } from '@app/testing';

import { ConsortiumHarness, ORGANISATIONS, TEST_PASSPHRASE } from '../../../test/support/consortium-harness';
import { corruptShareAndSign } from '../../../test/support/forgery';
import { createReceiverApp } from '../src/bootstrap';

const RECEIVERS = {
  controlCenter: 'cc-analytics',
  gridOperator: 'operator-billing',
  equipmentSupplier: 'supplier-maintenance',
};
/** The organisation that registered (and runs) each receiver. */
const OWNER: Record<string, string> = {
  [RECEIVERS.controlCenter]: ORGANISATIONS.controlCenter,
  [RECEIVERS.gridOperator]: ORGANISATIONS.gridOperator,
  [RECEIVERS.equipmentSupplier]: ORGANISATIONS.equipmentSupplier,
};

interface RunningReceiver {
  id: string;
  app: INestApplication;
  url: string;
}

describe('receivers follow the final chain and open only their own share', () => {
  let harness: ConsortiumHarness;
  let meters: EnrolledMeter[];
  let policies: ShareRule[][];
  const simulator = new FleetSimulator({ seed: 6, meters: 4 });
  const databases = new Map<string, TestDatabase>();
  const running = new Map<string, RunningReceiver>();
  const sent: Array<{ report: Report; values: Record<string, number | string>; meter: number }> = [];

  const keystore = (id: string) => harness.receiverKeystorePath(id);

  function config(id: string, keystoreOf = id) {
    return parseReceiverConfig({
      RECEIVER_ID: id,
      RECEIVER_KEYSTORE: keystore(keystoreOf),
      KEYSTORE_PASSPHRASE: TEST_PASSPHRASE,
      NODE_URL: harness.nodeUrl,
      GENESIS_FILE: path.join(harness.dir, CONSORTIUM_FILES.genesis),
      DATABASE_URL: databases.get(id)!.url,
      FOLLOW_POLL_MS: '100',
      FOLLOW_BATCH_BLOCKS: '3',
      CRYPTO_WORKERS: '1',
      ORGANISATION_ID: OWNER[id],
      ORGANISATION_KEYSTORE: path.join(harness.dir, CONSORTIUM_FILES.organisationKey(OWNER[id]!)),
      LOG_LEVEL: process.env.TEST_LOGS ? 'debug' : 'fatal',
    });
  }

  async function start(id: string): Promise<RunningReceiver> {
    const app = await createReceiverApp(config(id));
    await app.listen(0, '127.0.0.1');
    const receiver = { id, app, url: await app.getUrl() };
    running.set(id, receiver);
    return receiver;
  }

  async function get<T>(id: string, pathname: string): Promise<T> {
    const response = await harness.fetchAs(OWNER[id]!, `${running.get(id)!.url}${pathname}`);
    expect(response.status).toBe(200);
    return (await response.json()) as T;
  }

  /** Reports for `receiver` in the node's final chain (its share index). */
  async function sharesOnChain(receiver: string): Promise<number> {
    const { rows } = await harness.db.pool.query<{ n: string }>(
      'SELECT count(*) AS n FROM block_shares WHERE receiver_id = $1',
      [receiver],
    );
    return Number(rows[0]!.n);
  }

  /** Until the receiver has processed the node's final chain as it stands now. */
  async function caughtUp(id: string): Promise<void> {
    const target = ((await harness.get('/chain/status')).body as { final: { height: string } }).final.height;
    const deadline = Date.now() + 30_000;
    for (;;) {
      const status = await get<{ height: string }>(id, '/status');
      if (BigInt(status.height) >= BigInt(target)) {
        return;
      }
      if (Date.now() > deadline) {
        throw new Error(`${id} is at height ${status.height}, the node's final height was ${target}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async function sendReports(round: number): Promise<Report[]> {
    const now = Date.now();
    const reports = meters.map((meter, i) => {
      const values = simulator.reading(meter.spec.meterId, now + round) as Record<string, number | string>;
      const report = meter.reporter.report(values, now + round);
      sent.push({ report, values, meter: i });
      return report;
    });
    const answer = await harness.post('/reports/batch', { reports: reports.map((r) => r.toJSON()) });
    expect(answer.body).toMatchObject({ accepted: reports.length });
    for (const report of reports) {
      await harness.waitFor(`/reports/${report.idHex}`, (body) => body.status === 'final');
    }
    return reports;
  }

  beforeAll(async () => {
    harness = await ConsortiumHarness.start();
    const ctx = harness.enrolment();
    for (const [id, organisation, role] of [
      [RECEIVERS.controlCenter, ORGANISATIONS.controlCenter, 'control-center'],
      [RECEIVERS.gridOperator, ORGANISATIONS.gridOperator, 'grid-operator'],
      [RECEIVERS.equipmentSupplier, ORGANISATIONS.equipmentSupplier, 'equipment-supplier'],
    ] as const) {
      const holder = await enrolReceiver(ctx, { id, organisation, role });
      await harness.writeReceiverKeystore(holder);
      databases.set(id, await createTestDatabase({ poolSize: 2 }));
    }
    policies = standardPolicies(RECEIVERS);
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
    await start(RECEIVERS.controlCenter);
    await start(RECEIVERS.gridOperator);
  });

  afterAll(async () => {
    for (const receiver of running.values()) {
      await receiver.app.close();
    }
    for (const db of databases.values()) {
      await db.drop();
    }
    await harness?.stop();
  });

  it("given reports in final blocks, each receiver stores exactly its own dimensions of each, and no other receiver's", async () => {
    await sendReports(1);
    await sendReports(2);
    for (const id of [RECEIVERS.controlCenter, RECEIVERS.gridOperator]) {
      await caughtUp(id);
      const readings = await get<
        Array<{ reportId: string; meterId: string; values: Record<string, unknown> }>
      >(id, '/readings?limit=1000');
      expect(readings).toHaveLength(await sharesOnChain(id));
      for (const reading of readings) {
        const original = sent.find((s) => s.report.idHex === reading.reportId)!;
        const rule = policies[original.meter % policies.length]!.find((r) => r.receiver === id)!;
        // Exactly the dimensions the meter's policy gives this receiver, with the meter's values.
        expect(Object.keys(reading.values).sort()).toEqual([...rule.dimensions].sort());
        for (const name of rule.dimensions) {
          expect(reading.values[name]).toEqual(original.values[name]);
        }
      }
      // The readings of reports without a share for this receiver are nowhere here.
      const mine = new Set(readings.map((r) => r.reportId));
      for (const { report } of sent) {
        expect(mine.has(report.idHex)).toBe(report.receivers.some((r) => r.id === id));
      }
      // And as an outside witness, the node's signed head digest, consistent with the blocks taken.
      const witness = await get<{
        digests: number;
        latest: Array<{ nodeId: string; finalHeight: string; finalHash: string }>;
        conflicts: unknown[];
      }>(id, '/witness');
      expect(witness.digests).toBeGreaterThan(0);
      expect(witness.conflicts).toEqual([]);
      const [latest] = witness.latest;
      expect(latest).toMatchObject({ nodeId: 'node-1' });
      const { rows } = await harness.db.pool.query<{ hash: Buffer }>(
        'SELECT hash FROM blocks WHERE height = $1',
        [latest!.finalHeight],
      );
      expect(latest!.finalHash).toBe(rows[0]!.hash.toString('hex'));
    }
  });

  it("given a meter that corrupts the operator's share and signs it, the operator flags the report and the others still read it", async () => {
    const index = meters.findIndex((_, i) =>
      policies[i % policies.length]!.some((r) => r.receiver === RECEIVERS.gridOperator),
    );
    const meter = meters[index]!;
    const now = Date.now();
    const values = simulator.reading(meter.spec.meterId, now) as Record<string, number | string>;
    const corrupted = corruptShareAndSign(
      harness.params,
      meter.key,
      meter.reporter.report(values, now),
      RECEIVERS.gridOperator,
    );
    sent.push({ report: corrupted, values, meter: index });
    expect((await harness.post('/reports', corrupted.toJSON())).status).toBe(201);
    await harness.waitFor(`/reports/${corrupted.idHex}`, (body) => body.status === 'final');
    await caughtUp(RECEIVERS.gridOperator);
    await caughtUp(RECEIVERS.controlCenter);
    const flagged = await get<Array<{ reportId: string; meterId: string; code: string }>>(
      RECEIVERS.gridOperator,
      '/tampered',
    );
    expect(flagged).toEqual([
      expect.objectContaining({
        reportId: corrupted.idHex,
        meterId: meter.spec.meterId,
        code: 'CRYPTO.CIPHERTEXT_TAMPERED',
      }),
    ]);
    const operatorReadings = await get<Array<{ reportId: string }>>(
      RECEIVERS.gridOperator,
      '/readings?limit=1000',
    );
    expect(operatorReadings.map((r) => r.reportId)).not.toContain(corrupted.idHex);
    if (corrupted.receivers.some((r) => r.id === RECEIVERS.controlCenter)) {
      const ccReadings = await get<Array<{ reportId: string }>>(
        RECEIVERS.controlCenter,
        '/readings?limit=1000',
      );
      expect(ccReadings.map((r) => r.reportId)).toContain(corrupted.idHex);
    }
  });

  it('given a meter that sends a text value no receiver can store (NUL), the receiver flags the report and goes on', async () => {
    const index = meters.findIndex((_, i) =>
      policies[i % policies.length]!.some((r) => r.receiver === RECEIVERS.gridOperator),
    );
    const meter = meters[index]!;
    const operatorGets = policies[index % policies.length]!.find(
      (r) => r.receiver === RECEIVERS.gridOperator,
    )!;
    const poisoned = STANDARD_DIMENSIONS.indexOf(operatorGets.dimensions[0]!);
    const now = Date.now();
    const values = simulator.reading(meter.spec.meterId, now) as Record<string, number | string>;
    // A meter that does not use our SDK's encoder (which refuses this): a NUL inside a text value.
    const dimensions = STANDARD_DIMENSIONS.map((name, i) =>
      i === poisoned ? Uint8Array.of(0x02, 0x61, 0x00, 0x62) : encodeDimension(values[name]!),
    );
    const { signcrypter } = meter.reporter as unknown as { signcrypter: MeterSigncrypter };
    const report = signcrypter.signcrypt(dimensions, now);
    sent.push({ report, values: { ...values, [STANDARD_DIMENSIONS[poisoned]!]: 'a\u0000b' }, meter: index });
    expect((await harness.post('/reports', report.toJSON())).status).toBe(201);
    await harness.waitFor(`/reports/${report.idHex}`, (body) => body.status === 'final');
    // Before: the operator's block transaction failed in Postgres (jsonb holds no NUL) at every try,
    // and it never passed that block.
    await caughtUp(RECEIVERS.gridOperator);
    const flagged = await get<Array<{ reportId: string; code: string }>>(RECEIVERS.gridOperator, '/tampered');
    expect(flagged).toContainEqual(
      expect.objectContaining({ reportId: report.idHex, code: 'METER_SDK.BAD_READING' }),
    );
    await sendReports(5);
    await caughtUp(RECEIVERS.gridOperator);
  });

  it('given a receiver stopped while blocks go on, when it starts again, it takes every block once', async () => {
    await running.get(RECEIVERS.controlCenter)!.app.close();
    running.delete(RECEIVERS.controlCenter);
    await sendReports(3);
    await sendReports(4);
    await start(RECEIVERS.controlCenter);
    await caughtUp(RECEIVERS.controlCenter);
    const status = await get<{ readings: number; tampered: number }>(RECEIVERS.controlCenter, '/status');
    expect(status.readings + status.tampered).toBe(await sharesOnChain(RECEIVERS.controlCenter));
    const { rows } = await databases
      .get(RECEIVERS.controlCenter)!
      .pool.query<{ n: string }>('SELECT count(DISTINCT height) AS n FROM receiver_readings');
    expect(Number(rows[0]!.n)).toBeGreaterThan(1);
  });

  it("given the grid operator's token, it reads its own receiver and is refused the control center's; no token, no data", async () => {
    const operatorUrl = running.get(RECEIVERS.gridOperator)!.url;
    const ccUrl = running.get(RECEIVERS.controlCenter)!.url;
    const own = await harness.fetchAs(ORGANISATIONS.gridOperator, `${operatorUrl}/readings?limit=5`);
    expect(own.status).toBe(200);
    expect(((await own.json()) as unknown[]).length).toBeGreaterThan(0);

    const theirs = await harness.fetchAs(ORGANISATIONS.gridOperator, `${ccUrl}/readings?limit=5`);
    expect(theirs.status).toBe(403);
    expect(await theirs.json()).toMatchObject({
      code: 'AUTH.FORBIDDEN',
      message: expect.stringContaining(`open to ${ORGANISATIONS.controlCenter} only`),
    });
    const anonymous = await fetch(`${ccUrl}/readings?limit=5`);
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toMatchObject({ code: 'AUTH.MISSING' });
    // The signature's last character changed (to another one: it may have been an A already).
    const token = harness.authorization(ORGANISATIONS.gridOperator);
    const forged = await fetch(`${ccUrl}/readings?limit=5`, {
      headers: { authorization: token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A') },
    });
    expect(forged.status).toBe(401);
    // Probes need no credentials.
    expect((await fetch(`${ccUrl}/health/live`)).status).toBe(200);
  });

  it('given a NUL, a newline or a list where a meter id goes, answers 400 naming it, never 500', async () => {
    const operatorUrl = running.get(RECEIVERS.gridOperator)!.url;
    for (const [pathname, name] of [
      ['/readings?meter=%00', 'meter'],
      ['/readings?meter=a&meter=b', 'meter'],
      ['/readings?meter=a%0Ab', 'meter'],
      ['/meters/a%00b/recovered', 'meterId'],
    ] as const) {
      const answer = await harness.fetchAs(ORGANISATIONS.gridOperator, `${operatorUrl}${pathname}`);
      expect({ pathname, status: answer.status }).toEqual({ pathname, status: 400 });
      expect(((await answer.json()) as { message: string }).message).toContain(name);
    }
  });

  it('given a receiver configured for an organisation that did not register it, it refuses to start and names both', async () => {
    await expect(
      createReceiverApp({
        ...config(RECEIVERS.equipmentSupplier),
        organisation: {
          id: ORGANISATIONS.gridOperator,
          keystoreFile: path.join(harness.dir, CONSORTIUM_FILES.organisationKey(ORGANISATIONS.gridOperator)),
        },
      }),
    ).rejects.toThrow(
      /supplier-maintenance was registered by meterworks-supplier, not by ORGANISATION_ID east-grid-operator/,
    );
  });

  /** A stand-in for the followed node, answering GET /receivers/:id as `answer` says. */
  async function withNode(
    answer: (request: IncomingMessage, response: ServerResponse) => void,
    run: (nodeUrl: string) => Promise<void>,
  ): Promise<void> {
    const node = createServer(answer);
    await new Promise<void>((resolve) => node.listen(0, '127.0.0.1', resolve));
    try {
      await run(`http://127.0.0.1:${(node.address() as AddressInfo).port}`);
    } finally {
      node.close();
    }
  }

  it('given a node that does not answer, a receiver waits NODE_WAIT_SECONDS for it, then refuses to start', async () => {
    let nodeUrl = '';
    // A port nothing listens on any more: the node is not up.
    await withNode(
      () => undefined,
      (url) => Promise.resolve(void (nodeUrl = url)),
    );
    const started = Date.now();
    await expect(
      createReceiverApp({ ...config(RECEIVERS.equipmentSupplier), nodeUrl, nodeWaitMs: 2_000 }),
    ).rejects.toThrow(
      /receiver supplier-maintenance refuses to start: the node at .* did not confirm within 2 s that ORGANISATION_ID meterworks-supplier registered it \(ECONNREFUSED\)/,
    );
    // All of the wait, counted from after `started`: before, the last second was given up.
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_000);
  });

  it('given a node that has no such receiver or refuses the credentials, a receiver refuses to start at once', async () => {
    for (const [status, reason] of [
      [404, /the node at .* has no receiver supplier-maintenance/],
      [401, /the node at .* refused meterworks-supplier's credentials \(401\)/],
    ] as const) {
      await withNode(
        (_, response) => response.writeHead(status).end(),
        async (nodeUrl) => {
          await expect(
            createReceiverApp({ ...config(RECEIVERS.equipmentSupplier), nodeUrl, nodeWaitMs: 60_000 }),
          ).rejects.toThrow(reason);
        },
      );
    }
  });

  it('given a node that is still starting, a receiver asks again until it answers, and then checks who registered it', async () => {
    let asked = 0;
    await withNode(
      (_, response) => {
        asked += 1;
        if (asked < 3) {
          response.writeHead(503).end();
          return;
        }
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ id: RECEIVERS.equipmentSupplier, organisation: 'someone-else' }));
      },
      async (nodeUrl) => {
        await expect(
          createReceiverApp({ ...config(RECEIVERS.equipmentSupplier), nodeUrl, nodeWaitMs: 30_000 }),
        ).rejects.toThrow(/supplier-maintenance was registered by someone-else, not by ORGANISATION_ID/);
      },
    );
    expect(asked).toBe(3);
  });

  it("given another receiver's keystore, a receiver refuses to start and says whose key it holds", async () => {
    await expect(
      createReceiverApp(config(RECEIVERS.equipmentSupplier, RECEIVERS.gridOperator)),
    ).rejects.toThrow(/receiver key of "operator-billing", not receiver "supplier-maintenance"/);
  });
});
