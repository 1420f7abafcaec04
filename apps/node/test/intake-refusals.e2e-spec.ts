import { fromHex, RegisteredMeter, type Report } from '@app/crypto';
import {
  assembleMeterKey,
  createHolderIdentity,
  fetchPartialKey,
  type HolderIdentity,
  MeterReporter,
  type ReceiverListing,
  waitForIdentity,
} from '@app/meter-sdk';

import { ConsortiumHarness, ORGANISATIONS } from '../../../test/support/consortium-harness';
import { paperForgery } from '../../../test/support/forgery';

const DIMENSIONS = ['consumption_kwh', 'voltage_a', 'current_a', 'device_status'];
// The point (0, 2), of order 3, uncompressed as reports of version 2 carry W.
const G1_NOT_IN_SUBGROUP = `${'0'.repeat(190)}02`;

const reading = (kwh: number) => ({
  consumption_kwh: kwh,
  voltage_a: 230.2,
  current_a: 3.1,
  device_status: 'normal',
});

describe('report intake refuses bad input, each with its own reason, and stores nothing for it', () => {
  let harness: ConsortiumHarness;
  let policy: Array<{ receiver: string; dimensions: string[] }>;
  let receivers: ReceiverListing[];

  beforeAll(async () => {
    harness = await ConsortiumHarness.start({
      nodeEnv: { ACCEPT_WINDOW_MS: '900000', FUTURE_SKEW_MS: '30000' },
    });
    await harness.registerReceiver(ORGANISATIONS.controlCenter, 'cc-analytics', 'control-center');
    await harness.registerReceiver(ORGANISATIONS.gridOperator, 'operator-billing', 'grid-operator');
    policy = [
      { receiver: 'cc-analytics', dimensions: ['consumption_kwh', 'voltage_a', 'current_a'] },
      { receiver: 'operator-billing', dimensions: ['consumption_kwh', 'device_status'] },
    ];
    receivers = (await harness.get('/receivers')).body as ReceiverListing[];
  });

  afterAll(async () => {
    await harness?.stop();
  });

  async function registerMeter(id: string, options: { activate?: boolean } = {}) {
    const holder: HolderIdentity = createHolderIdentity(id);
    const answer = await harness.submit(ORGANISATIONS.gridOperator, 'meter.register', {
      meterId: id,
      publicKey: holder.publicKey,
      possession: holder.possession,
      dimensions: DIMENSIONS,
      policy,
      epoch: { maxReports: 1, maxAgeMs: 0 },
      owner: { name: id, notifyUrl: 'https://phones.example/x' },
    });
    expect(answer.status).toBe(202);
    if (options.activate === false) {
      await waitForIdentity(harness.nodeUrl, 'meter', id, 'registered');
      return { id, holder };
    }
    await waitForIdentity(harness.nodeUrl, 'meter', id, 'registered');
    const partial = await fetchPartialKey({
      ccUrl: harness.ccUrl,
      chainId: harness.chainId,
      params: harness.params,
      subject: 'meter',
      holder,
    });
    await waitForIdentity(harness.nodeUrl, 'meter', id, 'active');
    const key = assembleMeterKey(harness.params, holder.keys.secret, partial);
    const reporter = (nextNonce?: bigint) =>
      MeterReporter.create({
        params: harness.params,
        key,
        registration: { meterId: id, dimensions: DIMENSIONS, policy, epoch: { maxReports: 1, maxAgeMs: 0 } },
        receivers,
        nextNonce,
      });
    return { id, holder, key, reporter, alpha: partial.alpha };
  }

  /** Reports stored anywhere: they leave the mempool only for a final block, in one transaction. */
  async function counts(): Promise<{ stored: number; nonces: number; events: number }> {
    const { rows } = await harness.db.pool.query<{ stored: number; nonces: number; events: number }>(
      `SELECT (SELECT count(*)::int FROM mempool_reports) + (SELECT count(*)::int FROM block_transactions WHERE kind = 'report') AS stored,
              (SELECT count(*)::int FROM report_nonces) AS nonces,
              (SELECT count(*)::int FROM events WHERE type = 'intake.report-accepted') AS events`,
    );
    return rows[0]!;
  }

  async function expectRefused(
    body: unknown,
    status: number,
    code: string,
    pathname = '/reports',
  ): Promise<void> {
    const before = await counts();
    const answer = await harness.post(pathname, body);
    expect({ status: answer.status, code: answer.body.code }).toEqual({ status, code });
    expect(typeof answer.body.message).toBe('string');
    expect(await counts()).toEqual(before);
  }

  it('given reports that break the rules, when submitted, should refuse each with its code and store nothing', async () => {
    const good = await registerMeter('meter-good');
    const now = Date.now();

    // unknown meter: a well-formed report naming a meter nobody registered
    const json = good.reporter!().report(reading(1), now).toJSON();
    await expectRefused({ ...json, meterId: 'meter-nobody' }, 422, 'REPORT.UNKNOWN_METER');

    // a meter registered but without its partial key yet
    await registerMeter('meter-pending', { activate: false });
    await expectRefused({ ...json, meterId: 'meter-pending' }, 422, 'REPORT.METER_NOT_ACTIVE');

    // stale and future timestamps
    await expectRefused(
      good.reporter!(100n)
        .report(reading(1), now - 2 * 3_600_000)
        .toJSON(),
      422,
      'REPORT.STALE',
    );
    await expectRefused(
      good.reporter!(200n)
        .report(reading(1), now + 10 * 60_000)
        .toJSON(),
      422,
      'REPORT.FUTURE',
    );

    // a share addressed to a receiver that is not registered (a meter misconfigured, or worse)
    const stranger = createHolderIdentity('receiver-nobody');
    const misdirected = MeterReporter.create({
      params: harness.params,
      key: good.key!,
      registration: {
        meterId: 'meter-good',
        dimensions: DIMENSIONS,
        policy: [policy[0]!, { receiver: 'receiver-nobody', dimensions: ['consumption_kwh'] }],
        epoch: { maxReports: 1, maxAgeMs: 0 },
      },
      receivers: [...receivers, { id: 'receiver-nobody', publicKey: stranger.publicKey, status: 'active' }],
      nextNonce: 50n,
    });
    await expectRefused(misdirected.report(reading(1), now).toJSON(), 422, 'REPORT.UNKNOWN_RECEIVER');

    // W replaced by a curve point outside the prime-order subgroup
    await expectRefused(
      { ...json, signature: { ...json.signature, W: G1_NOT_IN_SUBGROUP } },
      422,
      'REPORT.BAD_POINT',
    );

    // the paper's forgery: W chosen after beta
    const meterView = (await harness.get('/meters/meter-good')).body as { publicKey: string; alpha: string };
    const victim = RegisteredMeter.register(harness.params, {
      id: 'meter-good',
      publicKey: fromHex(meterView.publicKey, 'Y', 48),
      alpha: fromHex(meterView.alpha, 'alpha', 48),
    });
    const forged = paperForgery(harness.params, victim, good.reporter!(300n).report(reading(1), now), {
      timestamp: now + 1,
      nonce: 301n,
    });
    await expectRefused(forged.toJSON(), 422, 'REPORT.BAD_SIGNATURE');

    // malformed JSON, a malformed report, an oversized body
    await expectRefused('{"version": 1, "meterId": ', 400, 'HTTP.BAD_REQUEST');
    await expectRefused({ ...json, extra: true }, 400, 'REPORT.MALFORMED');
    await expectRefused({ ...json, padding: 'x'.repeat(300 * 1024) }, 413, 'HTTP.PAYLOAD_TOO_LARGE');
  });

  it('given a revoked meter, when it reports, should refuse it', async () => {
    const meter = await registerMeter('meter-stolen');
    const report = meter.reporter!().report(reading(2));
    const revoked = await harness.submit(ORGANISATIONS.gridOperator, 'meter.revoke', {
      meterId: 'meter-stolen',
      reason: 'reported stolen',
    });
    expect(revoked.status).toBe(202);
    await harness.waitFor('/meters/meter-stolen', (m) => m.status === 'revoked');
    await expectRefused(report.toJSON(), 422, 'REPORT.METER_REVOKED');
  });

  it('given a nonce already used, when another report reuses it, should refuse the replay, also after the node restarts', async () => {
    const meter = await registerMeter('meter-replay');
    const first = meter.reporter!(7n).report(reading(3));
    expect((await harness.post('/reports', first.toJSON())).status).toBe(201);
    const replay = meter.reporter!(7n).report(reading(30)); // same nonce, other content
    await expectRefused(replay.toJSON(), 409, 'REPORT.REPLAYED');

    // Restart the node on the same database: the replay record survives.
    await harness.restartNode();
    await expectRefused(replay.toJSON(), 409, 'REPORT.REPLAYED');
    const again = await harness.post('/reports', first.toJSON());
    expect(again).toMatchObject({ status: 200, body: { reportId: first.idHex, duplicate: true } });
  });

  it('given a batch of 1,000 with 5 bad reports, when submitted, should accept 995 and name the 5', async () => {
    const fleet = await Promise.all(Array.from({ length: 10 }, (_, i) => registerMeter(`meter-batch-${i}`)));
    const now = Date.now();
    const reports: Report[] = [];
    for (let k = 0; k < 100; k += 1) {
      for (const [i, meter] of fleet.entries()) {
        reports.push(meter.reporter!(BigInt(1_000 + k)).report(reading(k + i / 10), now - 60_000 + k));
      }
    }
    const bad = [13, 250, 501, 777, 998];
    const body = reports.map((r, i) => {
      const j = r.toJSON();
      if (!bad.includes(i)) {
        return j;
      }
      // A valid signature, but of another report: passes every cheap check, fails verification.
      const donor = reports[(i + 1) % reports.length]!.toJSON();
      return { ...j, signature: donor.signature };
    });
    const before = await counts();
    const answer = await harness.post('/reports/batch', { reports: body });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ accepted: 995, rejected: 5 });
    const results = answer.body.results as Array<{ index: number; error?: { code: string } }>;
    expect(results.filter((r) => r.error).map((r) => [r.index, r.error!.code])).toEqual(
      bad.map((i) => [i, 'REPORT.BAD_SIGNATURE']),
    );
    const after = await counts();
    expect(after.stored - before.stored).toBe(995);
    expect(after.events - before.events).toBe(995);
  });
});
