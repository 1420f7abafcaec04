import { Registry } from 'prom-client';

import type { AppConfig } from '@app/config';
import { initCrypto, MeterSigncrypter, type RegisteredMeter, Report } from '@app/crypto';
import type { GenesisService } from '@app/registry';

import { encodeReport } from '../../crypto/src/report';
import { buildWorld, sampleReading, type World } from '../../crypto/test/world';
import { ReportVerifier } from './report-verifier';

// Real worker threads; the genesis is only the holder of the system parameters here.

let world: World;
let reports: Report[];
const T0 = 1_795_000_000_000;

beforeAll(async () => {
  await initCrypto();
  world = buildWorld({ meters: 1, receivers: ['cc'] });
  const meter = world.meters[0]!;
  const signcrypter = MeterSigncrypter.create(
    world.params,
    meter.key,
    { dimensionCount: 2, receivers: [{ receiver: world.receivers[0]!.pub, dimensions: [0, 1] }] },
    { epoch: { maxReports: 8, maxAgeMs: 60_000 } },
  );
  reports = Array.from({ length: 6 }, (_, i) => signcrypter.signcrypt(sampleReading(2, i), T0 + i));
});

async function startVerifier(): Promise<{
  verifier: ReportVerifier;
  checks: () => Promise<Record<string, number>>;
}> {
  const metrics = new Registry();
  const verifier = new ReportVerifier(
    { intake: { cryptoWorkers: 1 } } as AppConfig,
    { current: () => ({ params: world.params }) } as unknown as GenesisService,
    metrics,
  );
  await verifier.onModuleInit();
  const checks = async () => {
    const metric = await metrics.getSingleMetric('cbsg_report_signatures_checked_total')!.get();
    return Object.fromEntries(metric.values.map((v) => [String(v.labels.purpose), v.value]));
  };
  return { verifier, checks };
}

/** reports[0..4] as they are, and reports[5] with its timestamp moved by `shift` ms under the same signature. */
function fiveGoodAndAForgery(shift: number): Array<{ report: Report; meter: RegisteredMeter }> {
  const meter = world.meters[0]!.registered;
  const forged = Report.decode(encodeReport({ ...reports[5]!, timestamp: reports[5]!.timestamp + shift }));
  return [...reports.slice(0, 5), forged].map((report) => ({ report, meter }));
}

describe('ReportVerifier', () => {
  it('given reports checked once, when they come again (gossip after block), should not check them twice; a bad one is checked each time, an audit always', async () => {
    const { verifier, checks } = await startVerifier();
    try {
      const items = fiveGoodAndAForgery(1);

      const first = await verifier.verifyReports(items.slice(0, 3), 'block');
      expect(first.allValid).toBe(true);
      const second = await verifier.verifyReports(items, 'intake');
      expect(second.invalid).toEqual([5]);
      expect(second.verdicts.slice(0, 5).every((v) => v.valid)).toBe(true);
      expect(await checks()).toEqual({ block: 3, intake: 3 });

      const again = await verifier.verifyReports(items, 'intake');
      expect(again.invalid).toEqual([5]);
      expect((await checks()).intake).toBe(4);

      const audit = await verifier.verifyReports(items, 'verify-chain');
      expect(audit.invalid).toEqual([5]);
      expect((await checks())['verify-chain']).toBe(6);
    } finally {
      await verifier.onModuleDestroy();
    }
  });

  it('given the same reports checked for intake and for a block at the same time, should check each once and give both callers every verdict', async () => {
    const { verifier, checks } = await startVerifier();
    try {
      const items = fiveGoodAndAForgery(2);

      // The block comes while its reports' gossip is in the pool, then the gossip's rest.
      const [gossip, block, rest] = await Promise.all([
        verifier.verifyReports(items.slice(0, 4), 'intake'),
        verifier.verifyReports([items[5]!, ...items.slice(1, 3)], 'block'),
        verifier.verifyReports([items[3]!, items[5]!, items[4]!], 'intake'),
      ]);
      expect(gossip.allValid).toBe(true);
      expect(block.invalid).toEqual([0]);
      expect(rest.invalid).toEqual([1]);
      expect(await checks()).toEqual({ intake: 5, block: 1 });
    } finally {
      await verifier.onModuleDestroy();
    }
  });

  it('given a block whose reports wait in a queued gossip check, should make that check urgent, ahead of gossip queued before it', async () => {
    const { verifier, checks } = await startVerifier();
    try {
      const items = fiveGoodAndAForgery(3);
      const finished: string[] = [];
      const track = (name: string, call: Promise<unknown>) => call.then(() => finished.push(name));
      // One worker: the first gossip runs, the next two queue (merged into one batch if left alone).
      await Promise.all([
        track('gossip running', verifier.verifyReports([items[0]!], 'intake')),
        track('gossip queued first', verifier.verifyReports(items.slice(3, 5), 'intake')),
        track('gossip of the block', verifier.verifyReports(items.slice(1, 3), 'intake')),
        track('block', verifier.verifyReports(items.slice(1, 3), 'block')),
      ]);
      expect(finished[0]).toBe('gossip running');
      // The block's reports were checked on their own before the gossip queued ahead of them.
      expect(finished.at(-1)).toBe('gossip queued first');
      expect(await checks()).toEqual({ intake: 5, block: 0 });
    } finally {
      await verifier.onModuleDestroy();
    }
  });
});
