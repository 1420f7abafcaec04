import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

import type { INestApplication } from '@nestjs/common';
import { Redis } from 'ioredis';

import { parseReceiverConfig } from '@app/config';
import { compileContract, GRID_OPERATOR_FEEDBACK_CONTRACT, instantiateContract } from '@app/contracts';
import { CONSORTIUM_FILES } from '@app/control-center';
import { BlsPublicKey, blsSign, type Report, toHex } from '@app/crypto';
import { enrolMeters, enrolReceiver, type EnrolledMeter } from '@app/devnet';
import { Transaction } from '@app/ledger';
import { FleetSimulator, type SimulatedMeter, STANDARD_DIMENSIONS, standardPolicy } from '@app/meter-sdk';
import type { ContractResultBody, ContractResultEntry } from '@app/registry';
import { createTestDatabase, type TestDatabase } from '@app/testing';

import { createReceiverApp } from '../../apps/receiver/src/bootstrap';
import { METER_COMMANDS_TAG } from '../../apps/receiver/src/feedback-contract';
import { verifyNotification } from '../../apps/receiver/src/notification-signature';
import { ConsortiumHarness, ORGANISATIONS, TEST_PASSPHRASE } from '../support/consortium-harness';
import { corruptShareAndSign } from '../support/forgery';

/**
 * The devnet slice of issue 6: one node, the three receivers, 200 simulated meters, and everything the
 * receivers conclude checked against what the test knows it sent. The meters send 4.5 hours of
 * 15-minute readings at once (a gateway that was offline): 16 intervals of history, which the control
 * center's and the supplier's analyses need, then 2 current ones, which the grid operator's receiver
 * follows from its height L on and answers with its contract.
 * - the control center lists exactly the 3 thieves, with reasons, and none of the other 197;
 * - the 2 reports whose operator share was corrupted raise the re-upload alarm, and the meters are told;
 * - the 5 failing devices walk through Fig. 4 as scripted and show in the supplier's statistics;
 * - the 10 meters in arrears (and 2 prepaid meters low on credit) get notify or forced-trip actions as
 *   their balances say, the paid-up ones the latest price;
 * - every action is in a contract.result transaction of the final chain, and reached the owners' test
 *   phone server exactly once per action id, though the phone refuses the first attempt of many.
 */
const RECEIVERS = {
  controlCenter: 'cc-analytics',
  gridOperator: 'operator-billing',
  equipmentSupplier: 'supplier-maintenance',
} as const;
const OWNER: Record<string, string> = {
  [RECEIVERS.controlCenter]: ORGANISATIONS.controlCenter,
  [RECEIVERS.gridOperator]: ORGANISATIONS.gridOperator,
  [RECEIVERS.equipmentSupplier]: ORGANISATIONS.equipmentSupplier,
};
const METERS = 200;
/**
 * The anti-theft analysis gives no verdict under 16 usable intervals per meter (its minIntervals); two
 * more leave room for intervals too quiet to compare. 18 intervals of 15 minutes: 4.5 hours.
 */
const INTERVALS = 18;
/** Intervals sent before the grid operator's receiver starts following; the last two are current. */
const HISTORY = 16;
const WINDOW_HOURS = 6;
const INTERVAL_HOURS = 0.25;

/**
 * The 5 failing devices, interval by interval: a status, or null where the device sends nothing (an
 * outage: a dead meter does not report). Each walks its own path through Fig. 4.
 */
const S = (status: string, n: number): Array<string | null> => Array<string | null>(n).fill(status);
const SILENT = (n: number): Array<string | null> => Array<string | null>(n).fill(null);
const DEVICE_SCRIPTS: ReadonlyArray<{
  name: string;
  statuses: Array<string | null>;
  transitions: string[];
  state: string;
  faults: Array<{ faultType: string; worstState: string; open: boolean; maintenance: string }>;
  counts: {
    alarmCount: number;
    emergencyCount: number;
    outageCount: number;
    repairCount: number;
    failures: number;
  };
}> = [
  {
    name: 'overheating: alarm, emergency, trips (silent), repaired on site',
    statuses: [
      ...S('normal', 2),
      ...S('alarm:E11', 2),
      ...S('emergency:E11', 2),
      ...SILENT(3),
      ...S('repair:E11', 2),
      ...S('normal', 7),
    ],
    transitions: ['normal>alarm', 'alarm>emergency', 'emergency>outage?', 'outage>repair?', 'repair>normal'],
    state: 'normal',
    faults: [{ faultType: 'overheating', worstState: 'outage', open: false, maintenance: 'on-site' }],
    counts: { alarmCount: 1, emergencyCount: 1, outageCount: 1, repairCount: 1, failures: 1 },
  },
  {
    name: 'firmware: alarm, emergency, repaired remotely without an outage',
    statuses: [
      ...S('normal', 5),
      ...S('alarm:E41', 1),
      ...S('emergency:E41', 2),
      ...S('repair:E41', 1),
      ...S('normal', 9),
    ],
    transitions: ['normal>alarm', 'alarm>emergency', 'emergency>repair', 'repair>normal'],
    state: 'normal',
    faults: [{ faultType: 'firmware', worstState: 'emergency', open: false, maintenance: 'remote' }],
    counts: { alarmCount: 1, emergencyCount: 1, outageCount: 0, repairCount: 1, failures: 1 },
  },
  {
    name: 'moisture: a long outage',
    statuses: [
      ...S('normal', 3),
      ...S('alarm:E21', 2),
      ...S('emergency:E21', 1),
      ...SILENT(6),
      ...S('repair:E21', 2),
      ...S('normal', 4),
    ],
    transitions: ['normal>alarm', 'alarm>emergency', 'emergency>outage?', 'outage>repair?', 'repair>normal'],
    state: 'normal',
    faults: [{ faultType: 'moisture', worstState: 'outage', open: false, maintenance: 'on-site' }],
    counts: { alarmCount: 1, emergencyCount: 1, outageCount: 1, repairCount: 1, failures: 1 },
  },
  {
    name: 'phase loss: still under repair at the end (an open fault)',
    statuses: [
      ...S('normal', 8),
      ...S('alarm:E31', 2),
      ...S('emergency:E31', 1),
      ...SILENT(4),
      ...S('repair:E31', 3),
    ],
    transitions: ['normal>alarm', 'alarm>emergency', 'emergency>outage?', 'outage>repair?'],
    state: 'repair',
    faults: [{ faultType: 'phase_loss', worstState: 'outage', open: true, maintenance: 'on-site' }],
    counts: { alarmCount: 1, emergencyCount: 1, outageCount: 1, repairCount: 1, failures: 1 },
  },
  {
    name: 'a transient alarm that clears, then a firmware fault',
    statuses: [
      ...S('normal', 1),
      ...S('alarm:W01', 2),
      ...S('normal', 3),
      ...S('alarm:E41', 2),
      ...S('emergency:E41', 2),
      ...S('repair:E41', 2),
      ...S('normal', 6),
    ],
    transitions: [
      'normal>alarm',
      'alarm>normal',
      'normal>alarm',
      'alarm>emergency',
      'emergency>repair',
      'repair>normal',
    ],
    state: 'normal',
    faults: [
      { faultType: 'transient', worstState: 'alarm', open: false, maintenance: 'none' },
      { faultType: 'firmware', worstState: 'emergency', open: false, maintenance: 'remote' },
    ],
    counts: { alarmCount: 2, emergencyCount: 1, outageCount: 0, repairCount: 1, failures: 1 },
  },
];

/** The operator's data for Algorithm 1, as PUT /accounts/:meterId takes it. */
interface Account {
  prepaid: boolean;
  prepaid_balance: number;
  prepaid_low_level: number;
  arrears: number;
  arrears_level: number;
  serious_arrears_level: number;
  threshold_value: number;
  latest_price: number;
}
/** Arrears from 20 ask to pay; from 200 the meter trips. Both bounds are among the balances below. */
const NOTIFY_ARREARS = [20, 45.5, 90, 150, 199.99];
const TRIP_ARREARS = [200, 260, 480, 1_000, 3_500];
const PRICES: Record<SimulatedMeter['tariff'], number> = {
  'residential-flat': 0.29,
  'residential-time-of-use': 0.27,
  commercial: 0.24,
  industrial: 0.19,
};

/** Algorithm 1's cost() as the issue states it, written out here independently of the contract file. */
function expectedCostAction(a: Account): string {
  if (a.prepaid && a.prepaid_balance < a.prepaid_low_level) {
    return 'notify-prepaid-low';
  }
  if (a.arrears > 0 && a.arrears >= a.serious_arrears_level) {
    return 'forced-trip';
  }
  if (a.arrears > 0 && a.arrears >= a.arrears_level) {
    return 'notify-pay';
  }
  return 'report-price';
}

/** Algorithm 1's consumption(). */
function expectedConsumptionAction(tampered: boolean, kwh: number, a: Account): string {
  if (tampered) {
    return 're-upload-alarm';
  }
  return kwh >= a.threshold_value ? 'power-saving-mode' : 'run-as-usual';
}

/** Actions the phone takes as they come: the routine ones only sometimes fail first. */
const ROUTINE = new Set(['run-as-usual', 'report-price']);

interface Sent {
  meterId: string;
  interval: number;
  report: Report;
  values: Record<string, number | string>;
  tampered: boolean;
}

/** One contract result of a contract.result transaction, with the receiver that ran it. */
type ResultBody = ContractResultEntry & { receiverId: string };

interface Delivery {
  meterId: string;
  trigger: string;
  action: { id: string; type: string; message: string; params?: Record<string, unknown> };
  from: string;
}

describe('devnet slice: a node, the three receivers and 200 meters, from readings to actions at the meter', () => {
  let harness: ConsortiumHarness;
  let fleet: EnrolledMeter[];
  let phone: Server;
  const queuePrefix = `devnet-slice-${process.pid}-${Date.now()}`;
  const databases = new Map<string, TestDatabase>();
  const receivers = new Map<string, { app: INestApplication; url: string }>();
  const simulator = new FleetSimulator({ seed: 2019, meters: METERS, thieves: 3, tampered: 2, faulty: 5 });
  const byBehaviour = (b: SimulatedMeter['behaviour']) => simulator.meters.filter((m) => m.behaviour === b);
  const thieves = byBehaviour('thief').map((m) => m.meterId);
  const failing = byBehaviour('faulty').map((m) => m.meterId);
  const script = new Map(failing.map((id, i) => [id, DEVICE_SCRIPTS[i]!]));
  /** Each tampered meter's corrupted interval (its operator share only). */
  const tamperAt = new Map(byBehaviour('tampered').map((m, i) => [m.meterId, HISTORY + i]));
  const accounts = new Map<string, Account>();
  const arrears = new Map<string, 'notify-pay' | 'forced-trip'>();
  const sent: Sent[] = [];
  /** The reports the grid operator's receiver follows (after HISTORY). */
  const current = () => sent.filter((s) => s.interval >= HISTORY);
  let actionsOnChain: Map<string, { meterId: string; type: string; trigger: string }>;
  let results: Array<{ tx: Transaction; body: ResultBody }>;

  // The owners' phones: one server, a path per meter. It keeps the first accepted delivery of each
  // action id (the Idempotency-Key) and answers a repeat with 200 without applying it again, which is
  // what "exactly once from the meter's point of view" asks of a phone. It refuses the first attempt of
  // every action that needs attention and of one routine action in 8, to make the sender retry.
  const attempts = new Map<string, number>();
  const applied = new Map<
    string,
    { path: string; delivery: Delivery; text: string; signer: string; headers: IncomingHttpHeaders }
  >();
  const repeats: Array<{ key: string; same: boolean }> = [];
  const refuseFirst = (key: string, type: string) =>
    !ROUTINE.has(type) || createHash('sha256').update(key).digest()[0]! < 32;

  const receiverUrl = (id: string) => receivers.get(id)!.url;
  async function get<T>(id: string, pathname: string): Promise<T> {
    const response = await harness.fetchAs(OWNER[id]!, `${receiverUrl(id)}${pathname}`);
    expect(response.status).toBe(200);
    return (await response.json()) as T;
  }
  async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) {
        throw new Error(`${what}: not within ${timeoutMs} ms`);
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  async function count(sql: string): Promise<number> {
    const { rows } = await harness.db.pool.query<{ n: string }>(sql);
    return Number(rows[0]!.n);
  }
  /** Headers of a request the meter signs with its own key (its command queue at the operator). */
  function signedAsMeter(meter: EnrolledMeter, what: string): Record<string, string> {
    const timestamp = Date.now();
    return {
      'x-cbsg-timestamp': String(timestamp),
      'x-cbsg-signature': toHex(
        blsSign(
          meter.holder.keys.secret,
          { tag: METER_COMMANDS_TAG, chainId: harness.chainId },
          Buffer.from(`${what}:${timestamp}`),
        ),
      ),
    };
  }
  const meterOf = (id: string) => fleet.find((m) => m.spec.meterId === id)!;

  beforeAll(async () => {
    // Hours of readings arrive at once. Every meter, enrolment poller and receiver here shares one
    // address, so the node's per-client rate limit (meant for many clients) is raised.
    harness = await ConsortiumHarness.start({
      nodeEnv: { ACCEPT_WINDOW_MS: String(24 * 3_600_000), API_RATE_LIMIT: '100000' },
    });
    phone = createServer((request: IncomingMessage, response) => {
      let text = '';
      request.on('data', (chunk: Buffer) => (text += chunk.toString()));
      request.on('end', () => {
        const key = String(request.headers['idempotency-key']);
        const delivery = JSON.parse(text) as Delivery;
        const attempt = (attempts.get(key) ?? 0) + 1;
        attempts.set(key, attempt);
        if (attempt === 1 && refuseFirst(key, delivery.action.type)) {
          response.writeHead(503).end();
          return;
        }
        const first = applied.get(key);
        if (first) {
          repeats.push({ key, same: first.text === text });
        } else {
          applied.set(key, {
            path: request.url ?? '',
            delivery,
            text,
            signer: String(request.headers['x-cbsg-signer']),
            headers: request.headers,
          });
        }
        response.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => phone.listen(0, '127.0.0.1', resolve));
    const phoneUrl = `http://127.0.0.1:${(phone.address() as AddressInfo).port}`;

    const ctx = harness.enrolment();
    const keystore = (id: string) => harness.receiverKeystorePath(id);
    await Promise.all(
      (
        [
          [RECEIVERS.controlCenter, 'control-center'],
          [RECEIVERS.gridOperator, 'grid-operator'],
          [RECEIVERS.equipmentSupplier, 'equipment-supplier'],
        ] as const
      ).map(async ([id, role]) => {
        const holder = await enrolReceiver(ctx, { id, organisation: OWNER[id]!, role });
        await harness.writeReceiverKeystore(holder);
        databases.set(id, await createTestDatabase({ poolSize: 2 }));
      }),
    );
    const policy = standardPolicy(RECEIVERS, 'standard');
    fleet = await enrolMeters(
      ctx,
      simulator.meters.map((m, i) => ({
        meterId: m.meterId,
        registrar: ORGANISATIONS.gridOperator,
        dimensions: STANDARD_DIMENSIONS,
        policy,
        epoch: { maxReports: 96, maxAgeMs: 24 * 3_600_000 },
        owner: { name: `owner ${i}`, notifyUrl: `${phoneUrl}/phones/${m.meterId}` },
        location: m.location,
      })),
      { concurrency: 50 },
    );

    async function startReceiver(id: string, fromHeight = 1n): Promise<void> {
      const app = await createReceiverApp(
        parseReceiverConfig({
          RECEIVER_ID: id,
          RECEIVER_KEYSTORE: keystore(id),
          KEYSTORE_PASSPHRASE: TEST_PASSPHRASE,
          NODE_URL: harness.nodeUrl,
          GENESIS_FILE: path.join(harness.dir, CONSORTIUM_FILES.genesis),
          DATABASE_URL: databases.get(id)!.url,
          FROM_HEIGHT: String(fromHeight),
          FOLLOW_POLL_MS: '100',
          CRYPTO_WORKERS: '1',
          ORGANISATION_ID: OWNER[id],
          ORGANISATION_KEYSTORE: path.join(harness.dir, CONSORTIUM_FILES.organisationKey(OWNER[id]!)),
          REDIS_URL: 'redis://127.0.0.1:6379',
          QUEUE_PREFIX: `${queuePrefix}-${id}`,
          ...(id === RECEIVERS.gridOperator
            ? { CONTRACT: 'grid-operator-feedback', NOTIFY_ATTEMPTS: '4' }
            : {}),
          LOG_LEVEL: process.env.TEST_LOGS ? 'debug' : 'fatal',
        }),
      );
      await app.listen(0, '127.0.0.1');
      receivers.set(id, { app, url: await app.getUrl() });
    }

    /**
     * Intervals [from, to) of every meter, oldest first (each meter's nonces in order), posted in
     * batches; returns when all are in final blocks. Signing is synchronous: it yields between
     * intervals so that the in-process servers' keep-alive timers run, and no request goes out on a
     * socket the node has just timed out (ECONNRESET).
     */
    const interval = simulator.intervalMs;
    const start = Math.floor(Date.now() / interval) * interval - INTERVALS * interval;
    async function sendIntervals(from: number, to: number): Promise<void> {
      const batch: Sent[] = [];
      for (let k = from; k < to; k += 1) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        const at = start + k * interval;
        for (const meter of fleet) {
          const id = meter.spec.meterId;
          const reading = simulator.reading(id, at);
          const status = script.has(id) ? script.get(id)!.statuses[k]! : reading.device_status;
          if (status === null || (!script.has(id) && !simulator.isReporting(id, at))) {
            continue;
          }
          const values = { ...reading, device_status: status };
          let report = meter.reporter.report(values, at);
          const tampered = tamperAt.get(id) === k;
          if (tampered) {
            report = corruptShareAndSign(harness.params, meter.key, report, RECEIVERS.gridOperator);
          }
          batch.push({ meterId: id, interval: k, report, values, tampered });
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
      for (let i = 0; i < batch.length; i += 1_000) {
        const reports = batch.slice(i, i + 1_000).map((b) => b.report.toJSON());
        const answer = await harness.post('/reports/batch', { reports });
        expect(answer.body).toMatchObject({ accepted: reports.length, rejected: 0 });
      }
      sent.push(...batch);
      // block_transactions holds the final chain only.
      await until(
        'every report in a final block',
        async () =>
          (await count(`SELECT count(*) AS n FROM block_transactions WHERE kind = 'report'`)) === sent.length,
        120_000,
      );
    }

    // The history the analyses need, while the grid operator's receiver is not running yet.
    await startReceiver(RECEIVERS.controlCenter);
    await startReceiver(RECEIVERS.equipmentSupplier);
    await sendIntervals(0, HISTORY);

    // The grid operator's billing receiver takes the chain from here on (the paper's height L): its
    // contract acts on current readings; the results of the whole backlog would prove nothing more.
    const { rows: tip } = await harness.db.pool.query<{ height: string }>(
      'SELECT max(height) AS height FROM blocks',
    );
    await startReceiver(RECEIVERS.gridOperator, BigInt(tip[0]!.height) + 1n);

    // The operator's books, before any current reading: 5 meters asked to pay, 5 that trip, 2 prepaid
    // ones low on credit, one just below each level; everyone else paid up, with the price of their
    // tariff and a power-saving threshold at their contracted power.
    const ordinary = simulator.meters.filter((m) => m.behaviour === 'normal');
    const postpaid = ordinary.filter((m) => !m.prepaid);
    const prepaid = ordinary.filter((m) => m.prepaid);
    NOTIFY_ARREARS.forEach((_, i) => arrears.set(postpaid[i]!.meterId, 'notify-pay'));
    TRIP_ARREARS.forEach((_, i) => arrears.set(postpaid[5 + i]!.meterId, 'forced-trip'));
    const owed = new Map<string, number>([
      ...NOTIFY_ARREARS.map((a, i): [string, number] => [postpaid[i]!.meterId, a]),
      ...TRIP_ARREARS.map((a, i): [string, number] => [postpaid[5 + i]!.meterId, a]),
      [postpaid[10]!.meterId, 19.99],
    ]);
    const credit = new Map<string, number>([
      [prepaid[0]!.meterId, 4.99],
      [prepaid[1]!.meterId, 0],
      [prepaid[2]!.meterId, 5],
    ]);
    for (const m of simulator.meters) {
      const account: Account = {
        prepaid: m.prepaid,
        prepaid_balance: m.prepaid ? (credit.get(m.meterId) ?? 50) : 0,
        prepaid_low_level: 5,
        arrears: owed.get(m.meterId) ?? 0,
        arrears_level: 20,
        serious_arrears_level: 200,
        threshold_value: m.contractedKw * INTERVAL_HOURS,
        latest_price: PRICES[m.tariff],
      };
      accounts.set(m.meterId, account);
      const put = await harness.fetchAs(
        ORGANISATIONS.gridOperator,
        `${receiverUrl(RECEIVERS.gridOperator)}/accounts/${m.meterId}`,
        { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(account) },
      );
      expect(put.status).toBe(200);
    }

    await sendIntervals(HISTORY, INTERVALS);
    const currentCount = current().length;
    for (const id of Object.values(RECEIVERS)) {
      await until(
        `${id} has every share`,
        async () => {
          const status = await get<{ readings: number; tampered: number }>(id, '/status');
          return (
            status.readings + status.tampered === (id === RECEIVERS.gridOperator ? currentCount : sent.length)
          );
        },
        60_000,
      );
    }
    // One result per share the operator holds, and every notification delivered or dead.
    const chainResults = async () => {
      const { rows } = await harness.db.pool.query<{ bytes: Buffer }>(
        `SELECT bytes FROM block_transactions WHERE kind = 'contract.result' ORDER BY height, position`,
      );
      return rows.flatMap((r) => {
        const tx = Transaction.decode(r.bytes);
        const { receiverId, results: batch } = tx.body as unknown as ContractResultBody;
        return batch.map((result) => ({ tx, body: { receiverId, ...result } }));
      });
    };
    await until(
      'a contract result on the chain for every current operator share',
      async () => (await chainResults()).length === currentCount,
      120_000,
    );
    await until(
      'the notification queue drained',
      async () => {
        const queues = await get<Record<string, Record<string, number>>>(RECEIVERS.gridOperator, '/queues');
        const n = queues.notifications!;
        // Jobs are per block, then per action refused: count what the phones took, and the dead.
        return n.waiting! + n.active! + n.delayed! === 0 && applied.size + n.failed! >= 2 * currentCount;
      },
      60_000,
    );
    results = await chainResults();
    actionsOnChain = new Map();
    for (const { body } of results) {
      for (const action of body.actions) {
        expect(actionsOnChain.has(action.id)).toBe(false); // an action id appears once in the chain
        actionsOnChain.set(action.id, { meterId: body.meterId, type: action.type, trigger: body.trigger });
      }
    }
  }, 600_000);

  afterAll(async () => {
    for (const { app } of receivers.values()) {
      await app.close();
    }
    for (const db of databases.values()) {
      await db.drop();
    }
    phone?.close();
    await harness?.stop();
    // The receivers' BullMQ queues live under this test's prefixes only.
    const redis = new Redis('redis://127.0.0.1:6379');
    const keys = await redis.keys(`${queuePrefix}-*`);
    if (keys.length > 0) {
      await redis.del(...keys);
    }
    await redis.quit();
  });

  it('given 3 thieves among 200 meters, the control center lists exactly them, with reasons and evidence', async () => {
    const analysis = await get<{
      suspects: Array<{
        meterId: string;
        reasons: Array<{ code: string; text: string }>;
        evidence: { ratio: number; unmeteredKwh: number; intervalsConsidered: number };
      }>;
      cleared: Array<{ meterId: string }>;
      undetermined: Array<{ meterId: string; reason: string }>;
    }>(RECEIVERS.controlCenter, `/analyses/theft?hours=${WINDOW_HOURS}`);
    expect(analysis.suspects.map((s) => s.meterId).sort()).toEqual([...thieves].sort());
    for (const suspect of analysis.suspects) {
      expect(suspect.reasons.map((r) => r.code)).toContain('METERED_BELOW_SUPPLIED');
      expect(suspect.reasons.every((r) => r.text.length > 0)).toBe(true);
      expect(suspect.evidence.ratio).toBeLessThan(0.8);
      expect(suspect.evidence.unmeteredKwh).toBeGreaterThan(0);
      expect(suspect.evidence.intervalsConsidered).toBeGreaterThanOrEqual(16);
    }
    // Every other meter was looked at: cleared, or without enough intervals for a verdict (a device
    // that was out); none of the honest ones is a suspect.
    const others = [...analysis.cleared, ...analysis.undetermined].map((m) => m.meterId);
    expect(others.sort()).toEqual(
      simulator.meters
        .map((m) => m.meterId)
        .filter((id) => !thieves.includes(id))
        .sort(),
    );
    expect(analysis.undetermined.every((u) => failing.includes(u.meterId))).toBe(true);
  });

  it('given 2 reports with a corrupted operator share, the operator flags them, raises the re-upload alarm and tells the meters', async () => {
    const corrupted = sent.filter((s) => s.tampered);
    expect(corrupted).toHaveLength(2);
    const flagged = await get<Array<{ reportId: string; meterId: string; code: string }>>(
      RECEIVERS.gridOperator,
      '/tampered',
    );
    expect(flagged.map((f) => f.reportId).sort()).toEqual(corrupted.map((s) => s.report.idHex).sort());
    expect(flagged.every((f) => f.code === 'CRYPTO.CIPHERTEXT_TAMPERED')).toBe(true);
    // The other receivers' shares of the same reports were intact.
    for (const id of [RECEIVERS.controlCenter, RECEIVERS.equipmentSupplier]) {
      expect(await get<unknown[]>(id, '/tampered')).toEqual([]);
    }

    // Exactly two re-upload alarms on the chain, for exactly those reports.
    const alarms = [...actionsOnChain.values()].filter((a) => a.type === 're-upload-alarm');
    expect(alarms.map((a) => a.trigger).sort()).toEqual(
      corrupted.map((s) => `report:${s.report.idHex}`).sort(),
    );

    for (const s of corrupted) {
      const meter = meterOf(s.meterId);
      const commands = (await (
        await fetch(`${receiverUrl(RECEIVERS.gridOperator)}/meters/${s.meterId}/commands`, {
          headers: signedAsMeter(meter, `commands:${s.meterId}`),
        })
      ).json()) as Array<{ id: string; type: string; trigger: string; message: string }>;
      // Its command queue: the re-upload request for that report (the meter is in no arrears).
      expect(commands).toEqual([
        expect.objectContaining({
          type: 're-upload-alarm',
          trigger: `report:${s.report.idHex}`,
          message: 'Data has been tampered with, please re-upload',
        }),
      ]);
      const ack = await fetch(
        `${receiverUrl(RECEIVERS.gridOperator)}/meters/${s.meterId}/commands/${encodeURIComponent(commands[0]!.id)}/ack`,
        { method: 'POST', headers: signedAsMeter(meter, `ack:${s.meterId}:${commands[0]!.id}`) },
      );
      expect(ack.status).toBe(200);
      // And its owner's phone.
      const delivered = [...applied.values()].filter(
        (d) => d.delivery.meterId === s.meterId && d.delivery.action.type === 're-upload-alarm',
      );
      expect(delivered.map((d) => d.delivery.trigger)).toEqual([`report:${s.report.idHex}`]);
    }
  });

  it('given 5 failing devices, the supplier walks each through Fig. 4 and counts them in its statistics', async () => {
    const analysis = await get<{
      devices: Array<{
        deviceId: string;
        location: string;
        state: string;
        transitions: Array<{ from: string; to: string; inferred: boolean }>;
        impossible: unknown[];
        faults: Array<{
          eventNumber: number;
          faultType: string;
          worstState: string;
          location: string;
          endedAt: number | null;
          maintenance: string;
        }>;
        statistics: {
          alarmCount: number;
          emergencyCount: number;
          outageCount: number;
          repairCount: number;
          failures: number;
          outageMs: number;
        };
      }>;
      classes: Array<{
        deviceClass: string;
        devices: number;
        failures: number;
        outageCount: number;
        alarmCount: number;
      }>;
      predictions: Array<{ deviceId: string; rank: number; failures: number }>;
    }>(RECEIVERS.equipmentSupplier, `/analyses/devices?hours=${WINDOW_HOURS}`);
    expect(analysis.devices).toHaveLength(METERS);
    const device = (id: string) => analysis.devices.find((d) => d.deviceId === id)!;

    for (const [id, expected] of script) {
      const d = device(id);
      expect({
        id,
        name: expected.name,
        transitions: d.transitions.map((t) => `${t.from}>${t.to}${t.inferred ? '?' : ''}`),
      }).toEqual({
        id,
        name: expected.name,
        transitions: expected.transitions,
      });
      expect(d.state).toBe(expected.state);
      expect(d.impossible).toEqual([]);
      expect(d.location).toBe(simulator.meter(id).location);
      expect(
        d.faults.map((f) => ({
          faultType: f.faultType,
          worstState: f.worstState,
          open: f.endedAt === null,
          maintenance: f.maintenance,
        })),
      ).toEqual(expected.faults);
      expect(d.faults.map((f) => f.eventNumber)).toEqual(expected.faults.map((_, i) => i + 1));
      expect(d.statistics).toMatchObject(expected.counts);
      // Outage time: the silent intervals, inferred.
      const silent = expected.statuses.filter((s) => s === null).length;
      expect(d.statistics.outageMs).toBe(silent * simulator.intervalMs);
    }

    // Every other device reported only what the simulator gave it: normal, and now and then a short
    // self-clearing alarm (W01). The supplier counts those alarms, and no failure.
    let otherAlarms = 0;
    for (const m of simulator.meters.filter((x) => !script.has(x.meterId))) {
      const statuses = sent.filter((s) => s.meterId === m.meterId).map((s) => String(s.values.device_status));
      expect(statuses.every((s) => s === 'normal' || s === 'alarm:W01')).toBe(true);
      const alarms = statuses.filter(
        (s, k) => s !== 'normal' && (k === 0 || statuses[k - 1] === 'normal'),
      ).length;
      otherAlarms += alarms;
      const d = device(m.meterId);
      expect({ id: m.meterId, ...d.statistics }).toMatchObject({
        id: m.meterId,
        alarmCount: alarms,
        emergencyCount: 0,
        outageCount: 0,
        failures: 0,
      });
      expect(d.faults.every((f) => f.faultType === 'transient' && f.worstState === 'alarm')).toBe(true);
    }

    const scripted = [...script.values()];
    expect(analysis.classes).toEqual([
      expect.objectContaining({
        deviceClass: 'smart-meter',
        devices: METERS,
        failures: scripted.reduce((n, s) => n + s.counts.failures, 0),
        outageCount: scripted.reduce((n, s) => n + s.counts.outageCount, 0),
        alarmCount: scripted.reduce((n, s) => n + s.counts.alarmCount, 0) + otherAlarms,
      }),
    ]);
    // The hazard-rate prediction ranks the five that failed first.
    const top = analysis.predictions.filter((p) => p.rank <= 5).map((p) => p.deviceId);
    expect(top.sort()).toEqual([...failing].sort());
  });

  it("given the operator's books, each meter gets the cost action its balance says, and the paid-up ones the latest price", () => {
    expect([...arrears.values()].filter((a) => a === 'notify-pay')).toHaveLength(5);
    expect([...arrears.values()].filter((a) => a === 'forced-trip')).toHaveLength(5);
    const byTrigger = new Map(results.map((r) => [r.body.trigger, r.body]));
    const seen = new Map<string, number>();
    for (const s of current()) {
      const body = byTrigger.get(`report:${s.report.idHex}`);
      expect(body).toBeDefined();
      const account = accounts.get(s.meterId)!;
      const cost = expectedCostAction(account);
      const consumption = expectedConsumptionAction(s.tampered, Number(s.values.consumption_kwh), account);
      expect({ meter: s.meterId, interval: s.interval, types: body!.actions.map((a) => a.type) }).toEqual({
        meter: s.meterId,
        interval: s.interval,
        types: [consumption, cost],
      });
      seen.set(cost, (seen.get(cost) ?? 0) + 1);
    }
    // Each arrears meter got its action on every one of its reports; the two prepaid meters low on
    // credit were asked to top up; everyone else was told the price.
    for (const [id, action] of arrears) {
      const mine = results.filter((r) => r.body.meterId === id);
      expect(mine.length).toBe(current().filter((s) => s.meterId === id).length);
      expect(mine.every((r) => r.body.actions[1]!.type === action)).toBe(true);
    }
    const perMeter = (type: string) =>
      new Set(results.filter((r) => r.body.actions[1]!.type === type).map((r) => r.body.meterId));
    expect(perMeter('notify-pay').size).toBe(5);
    expect(perMeter('forced-trip').size).toBe(5);
    expect(perMeter('notify-prepaid-low').size).toBe(2);
    expect(perMeter('report-price').size).toBe(METERS - 12);

    // The phone learns the price itself, not only that there is one.
    const prices = [...applied.values()].filter((d) => d.delivery.action.type === 'report-price');
    expect(prices.length).toBe(seen.get('report-price'));
    for (const d of prices) {
      expect(d.delivery.action.params).toEqual({ price: accounts.get(d.delivery.meterId)!.latest_price });
    }
    const bills = [...applied.values()].filter((d) =>
      ['notify-pay', 'forced-trip'].includes(d.delivery.action.type),
    );
    for (const d of bills) {
      expect(d.delivery.action.params).toEqual({ arrears: accounts.get(d.delivery.meterId)!.arrears });
    }
  });

  it('given the meters that trip, each finds one forced-trip command per report in its queue, signed for it alone', async () => {
    for (const [id, action] of arrears) {
      const meter = meterOf(id);
      const commands = (await (
        await fetch(`${receiverUrl(RECEIVERS.gridOperator)}/meters/${id}/commands`, {
          headers: signedAsMeter(meter, `commands:${id}`),
        })
      ).json()) as Array<{ id: string; type: string; trigger: string }>;
      const expected =
        action === 'forced-trip'
          ? results.filter((r) => r.body.meterId === id).map((r) => r.body.actions[1]!.id)
          : [];
      // power-saving-mode may join them on a heavy interval: only the trips are counted here.
      expect(
        commands
          .filter((c) => c.type === 'forced-trip')
          .map((c) => c.id)
          .sort(),
      ).toEqual(expected.sort());
    }
  });

  it("given every action, it is in a contract.result of the final chain and reached the owner's phone exactly once", () => {
    // One result per report, signed by the operator (several to a transaction), each re-run to the
    // same hash from its own input.
    expect(results).toHaveLength(current().length);
    expect(new Set(results.map((r) => r.body.trigger))).toEqual(
      new Set(current().map((s) => `report:${s.report.idHex}`)),
    );
    const contract = compileContract(
      instantiateContract(GRID_OPERATOR_FEEDBACK_CONTRACT, { owner: ORGANISATIONS.gridOperator }),
    );
    for (const { tx, body } of results) {
      expect(tx.sender).toBe(ORGANISATIONS.gridOperator);
      expect(body.receiverId).toBe(RECEIVERS.gridOperator);
      const again = contract.evaluate(body.meterId, body.input, body.trigger);
      expect(again.resultHash).toBe(body.resultHash);
    }
    expect(actionsOnChain.size).toBe(2 * current().length);

    // Exactly the chain's actions were applied, each once, at its own meter's owner.
    expect([...applied.keys()].sort()).toEqual([...actionsOnChain.keys()].sort());
    for (const [key, { path: where, delivery }] of applied) {
      const onChain = actionsOnChain.get(key)!;
      expect(delivery.meterId).toBe(onChain.meterId);
      expect(delivery.action.type).toBe(onChain.type);
      expect(delivery.trigger).toBe(onChain.trigger);
      expect(where).toBe(`/phones/${onChain.meterId}`);
    }
    // A repeat (none is expected without a crash) would have carried the very same action.
    expect(repeats.filter((r) => !r.same)).toEqual([]);
    expect(repeats).toEqual([]);
    // The refused first attempts were retried: every action was attempted at least twice where refused.
    const refused = [...applied.entries()].filter(([key, d]) => refuseFirst(key, d.delivery.action.type));
    expect(refused.length).toBeGreaterThan(50);
    expect(refused.every(([key]) => attempts.get(key)! >= 2)).toBe(true);

    // Everything that needs the owner's attention is signed by the operator's organisation.
    const operator = harness.consortium.genesis.organisations.find(
      (o) => o.id === ORGANISATIONS.gridOperator,
    )!;
    const key = BlsPublicKey.fromBytes(Buffer.from(operator.publicKey, 'hex'));
    for (const d of applied.values()) {
      if (ROUTINE.has(d.delivery.action.type)) {
        continue;
      }
      expect(d.signer).toBe(ORGANISATIONS.gridOperator);
      expect(verifyNotification(d.text, d.headers, key, harness.chainId)).toBeDefined();
    }
  });

  it('given the delivery queues after the run, nothing is waiting and nothing is dead', async () => {
    const queues = await get<Record<string, Record<string, number>>>(RECEIVERS.gridOperator, '/queues');
    expect(queues.notifications).toMatchObject({ waiting: 0, active: 0, delayed: 0, failed: 0 });
    expect(queues['chain-publications']).toMatchObject({ failed: 0 });
    expect(queues['contract-evaluations']).toMatchObject({ failed: 0 });
  });
});
