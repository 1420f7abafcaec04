import path from 'node:path';

import type { INestApplication } from '@nestjs/common';

import { parseReceiverConfig } from '@app/config';
import { CONSORTIUM_FILES } from '@app/control-center';
import { enrolMeters, enrolReceiver } from '@app/devnet';
import { FleetSimulator, STANDARD_DIMENSIONS, standardPolicy } from '@app/meter-sdk';
import { Transaction } from '@app/ledger';
import { createTestDatabase, type TestDatabase } from '@app/testing';

import { ConsortiumHarness, ORGANISATIONS, TEST_PASSPHRASE } from '../../../test/support/consortium-harness';
import { createReceiverApp } from '../src/bootstrap';

const CC = 'cc-analytics';
const INTERVALS = 24;

describe("the control center's anti-theft analysis over the shares it opened from the chain", () => {
  let harness: ConsortiumHarness;
  let db: TestDatabase;
  let cc: INestApplication;
  let ccUrl: string;
  let keystore: string;
  /** The CC's receiver process on its own database, with extra settings. */
  const startCc = async (database: TestDatabase, extra: Record<string, string> = {}) => {
    const app = await createReceiverApp(
      parseReceiverConfig({
        RECEIVER_ID: CC,
        RECEIVER_KEYSTORE: keystore,
        KEYSTORE_PASSPHRASE: TEST_PASSPHRASE,
        NODE_URL: harness.nodeUrl,
        GENESIS_FILE: path.join(harness.dir, CONSORTIUM_FILES.genesis),
        DATABASE_URL: database.url,
        FOLLOW_POLL_MS: '100',
        CRYPTO_WORKERS: '1',
        ORGANISATION_ID: ORGANISATIONS.controlCenter,
        ORGANISATION_KEYSTORE: path.join(
          harness.dir,
          CONSORTIUM_FILES.organisationKey(ORGANISATIONS.controlCenter),
        ),
        LOG_LEVEL: process.env.TEST_LOGS ? 'debug' : 'fatal',
        ...extra,
      }),
    );
    await app.listen(0, '127.0.0.1');
    return app;
  };
  const simulator = new FleetSimulator({ seed: 31, meters: 6, thieves: 1 });
  /** A honest meter whose readings arrive with a gap and out of order. */
  const gappy = simulator.meters.find((m) => m.behaviour !== 'thief')!.meterId;

  beforeAll(async () => {
    // Six hours of 15-minute readings arrive at once (a gateway that was offline): the window allows it.
    harness = await ConsortiumHarness.start({ nodeEnv: { ACCEPT_WINDOW_MS: String(24 * 3_600_000) } });
    const ctx = harness.enrolment();
    const holder = await enrolReceiver(ctx, {
      id: CC,
      organisation: ORGANISATIONS.controlCenter,
      role: 'control-center',
    });
    keystore = await harness.writeReceiverKeystore(holder);
    const [rule] = standardPolicy(
      { controlCenter: CC, gridOperator: 'unused', equipmentSupplier: 'unused' },
      'standard',
    );
    const fleet = await enrolMeters(
      ctx,
      simulator.meters.map((m, i) => ({
        meterId: m.meterId,
        registrar: ORGANISATIONS.gridOperator,
        dimensions: STANDARD_DIMENSIONS,
        policy: [rule!],
        epoch: { maxReports: 96, maxAgeMs: 24 * 3_600_000 },
        owner: { name: `owner ${i}`, notifyUrl: `https://phones.example/${i}` },
      })),
    );
    db = await createTestDatabase({ poolSize: 2 });
    cc = await startCc(db);
    ccUrl = await cc.getUrl();

    const interval = simulator.intervalMs;
    const start = Math.floor(Date.now() / interval) * interval - INTERVALS * interval;
    const reports = [];
    // Meter `gappy` loses intervals 10 and 11 (an outage) and sends interval 9 after 12 (disorder).
    const order = [...Array(INTERVALS).keys()];
    const gappyOrder = order
      .filter((k) => k !== 9 && k !== 10 && k !== 11)
      .flatMap((k) => (k === 12 ? [12, 9] : [k]));
    for (const meter of fleet) {
      for (const k of meter.spec.meterId === gappy ? gappyOrder : order) {
        const at = start + k * interval;
        if (simulator.isReporting(meter.spec.meterId, at)) {
          reports.push(meter.reporter.report(simulator.reading(meter.spec.meterId, at), at));
        }
      }
    }
    const answer = await harness.post('/reports/batch', { reports: reports.map((r) => r.toJSON()) });
    expect(answer.body).toMatchObject({ accepted: reports.length });
    const last = reports.at(-1)!;
    await harness.waitFor(`/reports/${last.idHex}`, (body) => body.status === 'final', 60_000);
    const target = ((await harness.get('/chain/status')).body as { final: { height: string } }).final.height;
    const deadline = Date.now() + 30_000;
    for (;;) {
      const status = (await (
        await harness.fetchAs(ORGANISATIONS.controlCenter, `${ccUrl}/status`)
      ).json()) as { height: string };
      if (BigInt(status.height) >= BigInt(target) || Date.now() > deadline) {
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });

  afterAll(async () => {
    await cc?.close();
    await db?.drop();
    await harness?.stop();
  });

  it('given six hours of readings with one power thief among six meters, should list exactly the thief, with reasons and evidence', async () => {
    const thief = simulator.meters.find((m) => m.behaviour === 'thief')!.meterId;
    const response = await harness.fetchAs(ORGANISATIONS.controlCenter, `${ccUrl}/analyses/theft?hours=12`);
    expect(response.status).toBe(200);
    const analysis = (await response.json()) as {
      suspects: Array<{
        meterId: string;
        reasons: Array<{ code: string; text: string }>;
        evidence: { ratio: number; unmeteredKwh: number };
      }>;
      cleared: Array<{ meterId: string }>;
      undetermined: Array<{ meterId: string }>;
    };
    expect(analysis.suspects.map((s) => s.meterId)).toEqual([thief]);
    const [suspect] = analysis.suspects;
    expect(suspect!.reasons.length).toBeGreaterThan(0);
    expect(suspect!.evidence.ratio).toBeLessThan(0.8);
    expect(suspect!.evidence.unmeteredKwh).toBeGreaterThan(0);
    expect(analysis.cleared.length + analysis.undetermined.length).toBe(5);
    const bad = await harness.fetchAs(ORGANISATIONS.controlCenter, `${ccUrl}/analyses/theft?hours=0`);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ message: 'hours must be an integer from 1 to 720' });
  });
  it('given the analysis, when published, should put its hash and summary on the chain, signed by the organisation', async () => {
    const response = await harness.fetchAs(
      ORGANISATIONS.controlCenter,
      `${ccUrl}/publications/theft-suspects?hours=12`,
      { method: 'POST' },
    );
    expect(response.status).toBe(202);
    const published = (await response.json()) as {
      txHash: string;
      contentHash: string;
      summary: Array<{ id: string; codes: string[] }>;
    };
    await harness.waitFor(`/transactions/${published.txHash}`, (body) => body.status === 'final');
    const { rows } = await harness.db.pool.query<{ bytes: Buffer }>(
      'SELECT bytes FROM block_transactions WHERE hash = $1',
      [Buffer.from(published.txHash, 'hex')],
    );
    const tx = Transaction.decode(rows[0]!.bytes);
    expect(tx.sender).toBe(ORGANISATIONS.controlCenter);
    expect(tx.body).toMatchObject({
      subject: 'theft-suspects',
      contentHash: published.contentHash,
      summary: published.summary,
    });
    const thief =
      simulator.meters.find((m) => m.behaviour === 'thief')?.meterId ?? simulator.meters[0]!.meterId;
    expect(published.summary.map((s) => s.id)).toEqual([thief]);
    expect(published.summary[0]!.codes).toContain('METERED_BELOW_SUPPLIED');
    expect(
      (await harness.fetchAs(ORGANISATIONS.controlCenter, `${ccUrl}/publications/gossip`, { method: 'POST' }))
        .status,
    ).toBe(400);
  });
  it('given a meter that lost two intervals and sent one late, should order its readings and fill the gap, marked recovered', async () => {
    const response = await harness.fetchAs(
      ORGANISATIONS.controlCenter,
      `${ccUrl}/meters/${gappy}/recovered?hours=12`,
    );
    expect(response.status).toBe(200);
    const report = (await response.json()) as {
      missingIntervals: number[];
      recoveredIntervals: number;
      outOfOrderArrivals: number;
      points: Array<{
        at: number;
        origin: string;
        values: Record<string, number>;
        methods?: Record<string, string>;
      }>;
    };
    expect(report.missingIntervals).toHaveLength(2);
    expect(report.recoveredIntervals).toBe(2);
    expect(report.outOfOrderArrivals).toBe(1);
    const recovered = report.points.filter((p) => p.origin === 'recovered');
    expect(recovered.map((p) => p.at)).toEqual(report.missingIntervals);
    expect(recovered[0]!.methods).toMatchObject({ consumption_kwh: 'linear' });
    expect(report.points.map((p) => p.at)).toEqual([...report.points.map((p) => p.at)].sort((a, b) => a - b));
  });
  it('given key users and their rules, should raise an alert for each reading that breaks one, and refuse a bad rule set', async () => {
    const watched = simulator.meters[0]!.meterId;
    const put = await harness.fetchAs(ORGANISATIONS.controlCenter, `${ccUrl}/settings/key-users`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        // A level every reading exceeds, so that the alerts are predictable: one per reading.
        rules: [{ name: 'any-load', kind: 'consumption-above', kwhPerInterval: 0.000001 }],
        watch: [{ meterId: watched, rules: ['any-load'] }],
      }),
    });
    expect(await put.json()).toEqual({ version: 1, watched: 1, rules: 1 });
    const { alerts } = (await (
      await harness.fetchAs(ORGANISATIONS.controlCenter, `${ccUrl}/analyses/key-users?hours=12`)
    ).json()) as {
      alerts: Array<{ meterId: string; rule: string; observed: number; limit: number }>;
    };
    const readings = (await (
      await harness.fetchAs(ORGANISATIONS.controlCenter, `${ccUrl}/readings?meter=${watched}&limit=1000`)
    ).json()) as Array<{
      values: { consumption_kwh: number };
    }>;
    expect(alerts).toHaveLength(readings.filter((r) => r.values.consumption_kwh > 0.000001).length);
    expect(alerts.length).toBeGreaterThan(0);
    expect(new Set(alerts.map((a) => `${a.meterId}/${a.rule}`))).toEqual(new Set([`${watched}/any-load`]));
    const bad = await harness.fetchAs(ORGANISATIONS.controlCenter, `${ccUrl}/settings/key-users`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ rules: [], watch: [{ meterId: watched, rules: ['nothing'] }] }),
    });
    expect(bad.status).toBe(400);
  });
  it('given PUBLISH, the suspects go on the chain every period unasked, once per period however many processes run', async () => {
    const started = Date.now();
    const every = 2;
    const settings = {
      PUBLISH: 'theft-suspects',
      PUBLISH_EVERY_SECONDS: String(every),
      PUBLISH_WINDOW_HOURS: '12',
      REDIS_URL: 'redis://127.0.0.1:6379',
      QUEUE_PREFIX: `publish-${process.pid}-${started}`,
    };
    const databases = [await createTestDatabase({ poolSize: 2 }), await createTestDatabase({ poolSize: 2 })];
    const apps: INestApplication[] = [];
    const scheduled = async () => {
      const { rows } = await harness.db.pool.query<{ bytes: Buffer }>(
        `SELECT bytes FROM block_transactions WHERE kind = 'receiver.publication'`,
      );
      return rows
        .map((r) => Transaction.decode(r.bytes))
        .filter((tx) => (tx.body as { to: number }).to >= started);
    };
    let stopped: number;
    try {
      // Two processes of the same receiver share the schedule (same Redis, same queue prefix).
      for (const database of databases) {
        apps.push(await startCc(database, settings));
      }
      const deadline = Date.now() + 60_000;
      while ((await scheduled()).length < 3 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    } finally {
      await Promise.all(apps.map((app) => app.close()));
      stopped = Date.now();
      await Promise.all(databases.map((d) => d.drop()));
    }
    await new Promise((resolve) => setTimeout(resolve, 4_000)); // the last ones become final
    const published = await scheduled();
    // One per period: two processes with a timer each would publish about twice as many.
    expect(published.length).toBeLessThanOrEqual(Math.floor((stopped - started) / (every * 1000)) + 1);
    const thief = simulator.meters.find((m) => m.behaviour === 'thief')!.meterId;
    for (const tx of published) {
      expect(tx.sender).toBe(ORGANISATIONS.controlCenter);
      const body = tx.body as {
        subject: string;
        receiverId: string;
        from: number;
        to: number;
        summary: Array<{ id: string }>;
      };
      expect(body).toMatchObject({ subject: 'theft-suspects', receiverId: CC });
      expect(body.to - body.from).toBe(12 * 3_600_000);
      expect(body.summary.map((s) => s.id)).toEqual([thief]);
    }
  });
});
