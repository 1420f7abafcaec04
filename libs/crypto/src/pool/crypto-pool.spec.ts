import { join } from 'node:path';

import { CiphertextTamperedError, PoolClosedError, WorkerCrashedError } from '../errors';
import { initCrypto } from '../mcl';
import { encodeReport, Report } from '../report';
import { verifyReportBatch } from '../signature';
import { MeterSigncrypter } from '../signcrypt';
import { buildWorld, sampleReading, World } from '../../test/world';
import { cryptoErrorOfAsync } from '../../test/expect-error';
import { CryptoPool, Urgency } from './crypto-pool';

// Real worker threads, started from the TypeScript sources (the pool registers @swc-node/register
// in each worker when it finds crypto.worker.ts rather than .js).

let world: World;
let reports: Report[];
const T0 = 1_795_000_000_000;

beforeAll(async () => {
  await initCrypto();
  world = buildWorld({ meters: 3, receivers: ['cc', 'grid-operator'] });
  reports = [];
  for (const [m, meter] of world.meters.entries()) {
    const s = MeterSigncrypter.create(
      world.params,
      meter.key,
      {
        dimensionCount: 3,
        receivers: [
          { receiver: world.receivers[0]!.pub, dimensions: [0, 1, 2] },
          { receiver: world.receivers[1]!.pub, dimensions: [2] },
        ],
      },
      { epoch: { maxReports: 4, maxAgeMs: 60_000 } },
    );
    for (let i = 0; i < 8; i++) {
      reports.push(s.signcrypt(sampleReading(3, m * 10 + i), T0 + i));
    }
  }
});

const meterOf = (r: Report) => world.meters.find((m) => m.key.id === r.meterId)!.registered;

describe('CryptoPool', () => {
  it('given reports with bad ones when verified in the pool should return the same verdicts as in-process verification', async () => {
    const pool = await CryptoPool.start(world.params, { size: 2 });
    try {
      const items: { report: Uint8Array | Report; meter: ReturnType<typeof meterOf> }[] = reports.map(
        (r) => ({ report: r, meter: meterOf(r) }),
      );
      const r5 = reports[5]!;
      items[5] = {
        report: Report.decode(encodeReport({ ...r5, timestamp: r5.timestamp + 1 })),
        meter: meterOf(r5),
      };
      items[11] = { report: reports[11]!.bytes.subarray(0, 100), meter: meterOf(reports[11]!) };
      items[20] = { report: reports[20]!.bytes, meter: meterOf(reports[0]!) };
      const pooled = await pool.verifyReports(items);
      expect(pooled.invalid).toEqual([5, 11, 20]);
      expect(pooled.verdicts[11]).toMatchObject({ valid: false, code: 'CRYPTO.ENCODING_TRUNCATED' });
      expect(pooled.verdicts[20]).toMatchObject({ valid: false, code: 'CRYPTO.METER_MISMATCH' });
      const inProcess = verifyReportBatch(
        world.params,
        items
          .filter((_, i) => i !== 11)
          .map((it) => ({
            report: it.report instanceof Report ? it.report : Report.decode(it.report),
            meter: it.meter,
          })),
      );
      expect(inProcess.invalid).toEqual([5, 19]);
    } finally {
      await pool.close();
    }
  });

  it('given a receiver key loaded into the pool when opening shares should decrypt, and report each failure with its typed error', async () => {
    const pool = await CryptoPool.start(world.params, { size: 2 });
    try {
      const cc = await pool.loadReceiverKey('cc', world.receivers[0]!.secret);
      const r3 = reports[3]!;
      const ct = Uint8Array.from(r3.shares[0]!.ciphertext);
      ct[2] = (ct[2] ?? 0) ^ 1;
      const tampered = Report.decode(
        encodeReport({ ...r3, shares: [{ ...r3.shares[0]!, ciphertext: ct }, r3.shares[1]!] }),
      );
      const input = [...reports.slice(0, 3), tampered, reports[9]!.bytes];
      const outcomes = await pool.openShares(cc, input);
      expect(outcomes.map((o) => o.ok)).toEqual([true, true, true, false, true]);
      const failed = outcomes[3]!;
      expect(failed.ok ? undefined : failed.error).toBeInstanceOf(CiphertextTamperedError);
      const first = outcomes[0]!;
      expect(first.ok && first.share.dimensions.map((d) => d.index)).toEqual([0, 1, 2]);
      expect(first.ok && first.share.nonce).toBe(reports[0]!.nonce);

      const op = await pool.loadReceiverKey('grid-operator', world.receivers[1]!.secret);
      const second = await pool.openShares(op, reports);
      expect(second.every((o) => o.ok && o.share.dimensions.length === 1)).toBe(true);
    } finally {
      await pool.close();
    }
  });

  it('given a worker that dies mid-task when the pool runs should reject that task with CRYPTO.WORKER_CRASHED and replace the worker', async () => {
    const pool = await CryptoPool.start(world.params, {
      size: 2,
      workerScript: join(__dirname, '..', '..', 'test', 'crashing.worker.ts'),
    });
    try {
      const cc = await pool.loadReceiverKey('cc', world.receivers[0]!.secret);
      const crash = new TextEncoder().encode('CRASH');
      const e = await cryptoErrorOfAsync(() => pool.openShares(cc, [crash]));
      expect(e).toBeInstanceOf(WorkerCrashedError);
      const v = await cryptoErrorOfAsync(() =>
        pool.verifyReports([{ report: crash, meter: meterOf(reports[0]!) }]),
      );
      expect(v.code).toBe('CRYPTO.WORKER_CRASHED');
      // The replacements got the receiver key again and work normally.
      const after = await pool.openShares(cc, reports);
      expect(after.every((o) => o.ok)).toBe(true);
      expect(
        (await pool.verifyReports(reports.map((r) => ({ report: r, meter: meterOf(r) })))).allValid,
      ).toBe(true);
    } finally {
      await pool.close();
    }
    // Four worker threads start (two, then two replacements), each compiling its script and loading
    // mcl: over 5 s on a busy machine.
  }, 30_000);

  it('given the last running task whose worker dies while the pool closes should still finish closing', async () => {
    const pool = await CryptoPool.start(world.params, {
      size: 1,
      workerScript: join(__dirname, '..', '..', 'test', 'crashing.worker.ts'),
    });
    const cc = await pool.loadReceiverKey('cc', world.receivers[0]!.secret);
    const task = cryptoErrorOfAsync(() => pool.openShares(cc, [new TextEncoder().encode('CRASH')]));
    const closed = pool.close().then(() => 'closed');
    expect((await task).code).toBe('CRYPTO.WORKER_CRASHED');
    const stillOpen = new Promise((resolve) => setTimeout(() => resolve('still closing after 10 s'), 10_000));
    await expect(Promise.race([closed, stillOpen])).resolves.toBe('closed');
  }, 30_000);

  it('given ordinary verifications queued on a busy worker when an urgent one arrives should run it next, ahead of them, and urgent ones in their order', async () => {
    const pool = await CryptoPool.start(world.params, { size: 1 });
    try {
      const items = reports.map((r) => ({ report: r, meter: meterOf(r) }));
      const finished: string[] = [];
      const track = (name: string, urgent: boolean) =>
        pool.verifyReports(items, { urgent }).then((verdict) => {
          finished.push(name);
          return verdict.allValid;
        });
      const all = [
        track('running', false),
        track('queued 1', false),
        track('queued 2', false),
        track('urgent 1', true),
        track('urgent 2', true),
      ];
      expect(await Promise.all(all)).toEqual([true, true, true, true, true]);
      expect(finished).toEqual(['running', 'urgent 1', 'urgent 2', 'queued 1', 'queued 2']);
    } finally {
      await pool.close();
    }
  });

  it('given an ordinary verification still queued when its urgency is raised should run it next, ahead of the ordinary ones queued before it', async () => {
    const pool = await CryptoPool.start(world.params, { size: 1 });
    try {
      const items = reports.map((r) => ({ report: r, meter: meterOf(r) }));
      const finished: string[] = [];
      const track = (name: string, urgent: boolean | Urgency) =>
        pool.verifyReports(items, { urgent }).then((verdict) => {
          finished.push(name);
          return verdict.allValid;
        });
      const runningUrgency = new Urgency();
      const laterUrgency = new Urgency();
      const all = [
        track('running', runningUrgency),
        track('queued 1', false),
        track('queued 2', false),
        track('raised', laterUrgency),
        track('queued 3', false),
      ];
      laterUrgency.raise();
      runningUrgency.raise(); // already on the worker: nothing to move
      laterUrgency.raise(); // twice is once
      expect(await Promise.all(all)).toEqual([true, true, true, true, true]);
      expect(finished).toEqual(['running', 'raised', 'queued 1', 'queued 2', 'queued 3']);
    } finally {
      await pool.close();
    }
  });

  it('given small verifications queued behind a busy worker should check them as one batch and give each caller its own verdicts', async () => {
    const pool = await CryptoPool.start(world.params, { size: 1 });
    try {
      const items = reports.map((r) => ({ report: r, meter: meterOf(r) }));
      const r9 = reports[9]!;
      const forged = {
        report: Report.decode(encodeReport({ ...r9, nonce: r9.nonce + 1n })),
        meter: meterOf(r9),
      };
      const calls = [
        items.slice(0, 4),
        items.slice(4, 8),
        [items[8]!, forged, items[10]!],
        [{ report: reports[11]!.bytes, meter: meterOf(reports[11]!) }],
        items.slice(12, 20),
      ];
      const verdicts = await Promise.all(calls.map((call) => pool.verifyReports(call)));
      // The first ran at once; the four queued behind it ran together.
      expect(pool.verifyStats).toEqual({ batches: 2, reports: 20 });
      expect(verdicts.map((v) => v.invalid)).toEqual([[], [], [1], [], []]);
      expect(verdicts.map((v) => v.verdicts.length)).toEqual([4, 4, 3, 1, 8]);
    } finally {
      await pool.close();
    }
  });

  it('given queued work when the pool closes should finish that work first and then refuse new work', async () => {
    const pool = await CryptoPool.start(world.params, { size: 1 });
    const pending = pool.verifyReports(reports.map((r) => ({ report: r, meter: meterOf(r) })));
    const closed = pool.close();
    expect((await pending).allValid).toBe(true);
    await closed;
    expect(await cryptoErrorOfAsync(() => pool.verifyReports([]))).toBeInstanceOf(PoolClosedError);
  });
});
