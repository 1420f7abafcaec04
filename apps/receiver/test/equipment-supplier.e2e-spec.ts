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

const SUPPLIER = 'supplier-maintenance';
const INTERVALS = 26;

describe("the equipment supplier's device states, fault reports, statistics and prediction from the shares it opened", () => {
  let harness: ConsortiumHarness;
  let db: TestDatabase;
  let supplier: INestApplication;
  let supplierUrl: string;
  const simulator = new FleetSimulator({ seed: 32, meters: 2 });
  /** Meter 0's statuses, interval by interval (null: it sends nothing, as in an outage). */
  const FAULT: Array<string | null> = [
    ...Array<string>(4).fill('normal'),
    ...Array<string>(3).fill('alarm:E11'),
    ...Array<string>(2).fill('emergency:E11'),
    ...Array<null>(4).fill(null),
    ...Array<string>(2).fill('repair:E11'),
    ...Array<string>(9).fill('normal'),
  ];

  beforeAll(async () => {
    // Hours of 15-minute readings arrive at once (a gateway that was offline): the window allows it.
    harness = await ConsortiumHarness.start({ nodeEnv: { ACCEPT_WINDOW_MS: String(24 * 3_600_000) } });
    const ctx = harness.enrolment();
    const holder = await enrolReceiver(ctx, {
      id: SUPPLIER,
      organisation: ORGANISATIONS.equipmentSupplier,
      role: 'equipment-supplier',
    });
    const keystore = await harness.writeReceiverKeystore(holder);
    const rule = standardPolicy(
      { controlCenter: 'unused-cc', gridOperator: 'unused-operator', equipmentSupplier: SUPPLIER },
      'standard',
    ).find((r) => r.receiver === SUPPLIER);
    const fleet = await enrolMeters(
      ctx,
      simulator.meters.map((m, i) => ({
        meterId: m.meterId,
        registrar: ORGANISATIONS.gridOperator,
        dimensions: STANDARD_DIMENSIONS,
        policy: [rule!],
        epoch: { maxReports: 96, maxAgeMs: 24 * 3_600_000 },
        owner: { name: `owner ${i}`, notifyUrl: `https://phones.example/${i}` },
        location: `north/feeder-${i + 1}`,
      })),
    );
    db = await createTestDatabase({ poolSize: 2 });
    supplier = await createReceiverApp(
      parseReceiverConfig({
        RECEIVER_ID: SUPPLIER,
        RECEIVER_KEYSTORE: keystore,
        KEYSTORE_PASSPHRASE: TEST_PASSPHRASE,
        NODE_URL: harness.nodeUrl,
        GENESIS_FILE: path.join(harness.dir, CONSORTIUM_FILES.genesis),
        DATABASE_URL: db.url,
        FOLLOW_POLL_MS: '100',
        CRYPTO_WORKERS: '1',
        ORGANISATION_ID: ORGANISATIONS.equipmentSupplier,
        ORGANISATION_KEYSTORE: path.join(
          harness.dir,
          CONSORTIUM_FILES.organisationKey(ORGANISATIONS.equipmentSupplier),
        ),
        LOG_LEVEL: process.env.TEST_LOGS ? 'debug' : 'fatal',
      }),
    );
    await supplier.listen(0, '127.0.0.1');
    supplierUrl = await supplier.getUrl();

    const interval = simulator.intervalMs;
    const start = Math.floor(Date.now() / interval) * interval - INTERVALS * interval;
    const reports = [];
    for (let k = 0; k < INTERVALS; k += 1) {
      for (const [i, meter] of fleet.entries()) {
        const at = start + k * interval;
        const status = i === 0 ? FAULT[k] : 'normal';
        if (status) {
          const values = { ...simulator.reading(meter.spec.meterId, at), device_status: status };
          reports.push(meter.reporter.report(values, at));
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
        await harness.fetchAs(ORGANISATIONS.equipmentSupplier, `${supplierUrl}/status`)
      ).json()) as { height: string };
      if (BigInt(status.height) >= BigInt(target) || Date.now() > deadline) {
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });

  afterAll(async () => {
    await supplier?.close();
    await db?.drop();
    await harness?.stop();
  });

  it('given a device that went alarm, emergency, silent, repair and back, should walk it through Fig. 4 and report the fault', async () => {
    const [faulty, healthy] = simulator.meters.map((m) => m.meterId);
    const response = await harness.fetchAs(
      ORGANISATIONS.equipmentSupplier,
      `${supplierUrl}/analyses/devices?hours=12`,
    );
    expect(response.status).toBe(200);
    const analysis = (await response.json()) as {
      devices: Array<{
        deviceId: string;
        location: string;
        state: string;
        transitions: Array<{ from: string; to: string; inferred: boolean }>;
        faults: Array<{
          eventNumber: number;
          faultType: string;
          worstState: string;
          location: string;
          endedAt: number | null;
        }>;
        statistics: {
          alarmCount: number;
          emergencyCount: number;
          outageCount: number;
          repairCount: number;
          failures: number;
        };
      }>;
      predictions: Array<{ deviceId: string; rank: number; failures: number }>;
    };
    const device = analysis.devices.find((d) => d.deviceId === faulty)!;
    expect(device.transitions.map((t) => `${t.from}>${t.to}${t.inferred ? '?' : ''}`)).toEqual([
      'normal>alarm',
      'alarm>emergency',
      'emergency>outage?',
      'outage>repair?',
      'repair>normal',
    ]);
    expect(device.state).toBe('normal');
    expect(device.faults).toEqual([
      expect.objectContaining({
        eventNumber: 1,
        faultType: 'overheating',
        worstState: 'outage',
        location: 'north/feeder-1',
        endedAt: expect.any(Number) as number,
      }),
    ]);
    expect(device.statistics).toMatchObject({
      alarmCount: 1,
      emergencyCount: 1,
      outageCount: 1,
      repairCount: 1,
      failures: 1,
    });
    const other = analysis.devices.find((d) => d.deviceId === healthy)!;
    expect(other.faults).toEqual([]);
    expect(analysis.predictions.find((p) => p.rank === 1)).toMatchObject({ deviceId: faulty, failures: 1 });
    expect(
      (await harness.fetchAs(ORGANISATIONS.equipmentSupplier, `${supplierUrl}/analyses/devices?hours=abc`))
        .status,
    ).toBe(400);
  });
  it('given the analysis, when published, should put its hash and summary on the chain, signed by the organisation', async () => {
    const response = await harness.fetchAs(
      ORGANISATIONS.equipmentSupplier,
      `${supplierUrl}/publications/device-report?hours=12`,
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
    expect(tx.sender).toBe(ORGANISATIONS.equipmentSupplier);
    expect(tx.body).toMatchObject({
      subject: 'device-report',
      contentHash: published.contentHash,
      summary: published.summary,
    });
    const faulty =
      simulator.meters.find((m) => m.behaviour === 'thief')?.meterId ?? simulator.meters[0]!.meterId;
    expect(published.summary.map((s) => s.id)).toEqual([faulty]);
    expect(published.summary[0]!.codes).toContain('overheating');
    expect(
      (
        await harness.fetchAs(ORGANISATIONS.equipmentSupplier, `${supplierUrl}/publications/gossip`, {
          method: 'POST',
        })
      ).status,
    ).toBe(400);
  });
});
