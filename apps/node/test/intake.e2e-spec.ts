import { ReceiverPrivateKey, Report, ShareDecryptor, type MeterPrivateKey } from '@app/crypto';
import {
  assembleMeterKey,
  createHolderIdentity,
  decodeDimension,
  fetchPartialKey,
  type HolderIdentity,
  MeterReporter,
  type ReceiverListing,
  waitForIdentity,
} from '@app/meter-sdk';

import { ConsortiumHarness, ORGANISATIONS } from '../../../test/support/consortium-harness';

const DIMENSIONS = [
  'consumption_kwh',
  'voltage_a',
  'voltage_b',
  'voltage_c',
  'current_a',
  'current_b',
  'current_c',
  'temperature_c',
  'humidity_pct',
  'device_status',
];
const RECEIVERS = { cc: 'cc-analytics', operator: 'operator-billing', supplier: 'supplier-maintenance' };

/** Three sharing policies; meter i uses policies[i % 3]. */
const POLICIES = [
  [
    {
      receiver: RECEIVERS.cc,
      dimensions: [
        'consumption_kwh',
        'voltage_a',
        'voltage_b',
        'voltage_c',
        'current_a',
        'current_b',
        'current_c',
      ],
    },
    { receiver: RECEIVERS.operator, dimensions: ['consumption_kwh'] },
    { receiver: RECEIVERS.supplier, dimensions: ['device_status', 'temperature_c', 'humidity_pct'] },
  ],
  [
    {
      receiver: RECEIVERS.cc,
      dimensions: ['consumption_kwh', 'current_a', 'current_b', 'current_c', 'device_status'],
    },
    { receiver: RECEIVERS.operator, dimensions: ['consumption_kwh', 'voltage_a'] },
  ],
  [
    { receiver: RECEIVERS.operator, dimensions: ['consumption_kwh'] },
    { receiver: RECEIVERS.supplier, dimensions: ['device_status', 'voltage_a', 'voltage_b', 'voltage_c'] },
  ],
];

function readingFor(i: number) {
  return {
    consumption_kwh: 0.25 + i / 100,
    voltage_a: 229.5 + (i % 3),
    voltage_b: 230.1,
    voltage_c: 231.2 - (i % 2),
    current_a: 4.1 + i / 50,
    current_b: 3.9,
    current_c: 4.3,
    temperature_c: 21.5,
    humidity_pct: 48,
    device_status: i % 7 === 0 ? 'alarm:E12' : 'normal',
  };
}

interface Meter {
  id: string;
  holder: HolderIdentity;
  key: MeterPrivateKey;
  reporter: MeterReporter;
  policy: (typeof POLICIES)[number];
}

describe('registration and report intake (HTTP, real Postgres)', () => {
  let harness: ConsortiumHarness;
  const receiverHolders = new Map<string, HolderIdentity>();
  const meters: Meter[] = [];

  beforeAll(async () => {
    harness = await ConsortiumHarness.start();
    receiverHolders.set(
      RECEIVERS.cc,
      await harness.registerReceiver(ORGANISATIONS.controlCenter, RECEIVERS.cc, 'control-center'),
    );
    receiverHolders.set(
      RECEIVERS.operator,
      await harness.registerReceiver(ORGANISATIONS.gridOperator, RECEIVERS.operator, 'grid-operator'),
    );
    receiverHolders.set(
      RECEIVERS.supplier,
      await harness.registerReceiver(
        ORGANISATIONS.equipmentSupplier,
        RECEIVERS.supplier,
        'equipment-supplier',
      ),
    );
  });

  afterAll(async () => {
    await harness?.stop();
  });

  async function registerMeter(i: number, epochReports = 1): Promise<Meter> {
    const id = `meter-${String(i).padStart(3, '0')}`;
    const holder = createHolderIdentity(id);
    const policy = POLICIES[i % POLICIES.length]!;
    const answer = await harness.submit(ORGANISATIONS.gridOperator, 'meter.register', {
      meterId: id,
      publicKey: holder.publicKey,
      possession: holder.possession,
      dimensions: DIMENSIONS,
      policy,
      epoch: { maxReports: epochReports, maxAgeMs: 3_600_000 },
      owner: { name: `Household ${i}`, notifyUrl: `https://phones.example/owners/${i}` },
      location: `feeder-${i % 4}`,
    });
    expect(answer).toMatchObject({ status: 202, body: { status: 'pending', kind: 'meter.register' } });
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
    const receivers = (await harness.get('/receivers')).body as ReceiverListing[];
    const reporter = MeterReporter.create({
      params: harness.params,
      key,
      registration: {
        meterId: id,
        dimensions: DIMENSIONS,
        policy,
        epoch: { maxReports: epochReports, maxAgeMs: 3_600_000 },
      },
      receivers,
    });
    return { id, holder, key, reporter, policy };
  }

  it('given 50 meters registered with different sharing policies, when they report (singly and in a batch), should accept every report, and each receiver should decrypt exactly its share', async () => {
    // All at once, as a meter operator would: each waits for its own blocks to become final.
    meters.push(
      ...(await Promise.all(Array.from({ length: 50 }, (_, i) => registerMeter(i, i % 2 === 0 ? 1 : 8)))),
    );
    const meterView = (await harness.get('/meters/meter-007')).body as Record<string, unknown>;
    expect(meterView).toMatchObject({
      id: 'meter-007',
      status: 'active',
      registrar: ORGANISATIONS.gridOperator,
    });

    const now = Date.now();
    const reports = meters.map((m, i) => m.reporter.report(readingFor(i), now - 1_000 + i));
    // Half one by one, half in one batch.
    for (const report of reports.slice(0, 25)) {
      const answer = await harness.post('/reports', report.toJSON());
      expect(answer.status).toBe(201);
      expect(answer.body).toMatchObject({ reportId: report.idHex, status: 'accepted', duplicate: false });
    }
    const batch = await harness.post('/reports/batch', { reports: reports.slice(25).map((r) => r.toJSON()) });
    expect(batch).toMatchObject({ status: 200, body: { accepted: 25, rejected: 0 } });

    const decryptors = new Map(
      [...receiverHolders].map(([id, holder]) => [
        id,
        new ShareDecryptor(
          ReceiverPrivateKey.create(harness.params, id, holder.keys.secret, holder.keys.publicKey),
        ),
      ]),
    );
    for (const [i, report] of reports.entries()) {
      const stored = (await harness.get(`/reports/${report.idHex}`)).body as { report: unknown };
      const back = Report.fromJSON(stored.report);
      expect(back.idHex).toBe(report.idHex);
      const policy = meters[i]!.policy;
      for (const [receiverId, decryptor] of decryptors) {
        const entry = policy.find((p) => p.receiver === receiverId);
        if (!entry) {
          // Not in this meter's policy: there is nothing for this receiver to open.
          expect(() => decryptor.open(back)).toThrow(
            expect.objectContaining({ code: 'CRYPTO.SHARE_NOT_FOUND' }),
          );
          continue;
        }
        const share = decryptor.open(back);
        const got = Object.fromEntries(
          share.dimensions.map((d) => [DIMENSIONS[d.index], decodeDimension(d.value)]),
        );
        const expected = Object.fromEntries(
          entry.dimensions.map((name) => [name, readingFor(i)[name as keyof ReturnType<typeof readingFor>]]),
        );
        expect(got).toEqual(expected);
      }
    }
  });

  it('given an accepted report, when submitted again, should answer the same receipt and store nothing new', async () => {
    const meter = meters[3]!;
    const report = meter.reporter.report(readingFor(3));
    const first = await harness.post('/reports', report.toJSON());
    const again = await harness.post('/reports', report.toJSON());
    expect(first.status).toBe(201);
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ ...first.body, duplicate: true });
  });
});
