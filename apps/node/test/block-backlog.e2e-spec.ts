import path from 'node:path';

import { CONSORTIUM_FILES } from '@app/control-center';

import { ConsortiumHarness } from '../../../test/support/consortium-harness';

const MAX_BLOCK_TRANSACTIONS = 2;
const REPORTS = 3 * MAX_BLOCK_TRANSACTIONS;

describe('block production while finality waits: a backlog longer than a block', () => {
  let harness: ConsortiumHarness;

  beforeAll(async () => {
    harness = await ConsortiumHarness.start();
  });

  afterAll(async () => {
    await harness?.stop();
  });

  it('given more pending reports than a block holds and no block final, should put the next ones in each new block, not the ones its ancestors hold', async () => {
    const { simulator, meter } = await harness.enrolBillingMeter(11, 16);

    // One delegate of three: its blocks never gather a quorum (nor 2/3 of producers building on
    // them), so nothing becomes final and every report stays in the mempool while blocks pile up.
    harness.nodeEnv.DELEGATE_KEYSTORES = path.join(harness.dir, CONSORTIUM_FILES.delegateKey('delegate-1'));
    harness.nodeEnv.MAX_BLOCK_TRANSACTIONS = String(MAX_BLOCK_TRANSACTIONS);
    await harness.restartNode();

    const ids: string[] = [];
    for (let k = 0; k < REPORTS; k += 1) {
      const at = Date.now() + k;
      const report = meter.reporter.report(simulator.reading(meter.spec.meterId, at), at);
      expect((await harness.post('/reports', report.toJSON())).status).toBe(201);
      ids.push(report.idHex);
    }

    const where = async () =>
      Promise.all(
        ids.map(
          async (id) => (await harness.get(`/reports/${id}`)).body as { status: string; height?: string },
        ),
      );
    // Three producers, one slot in three ours, 500 ms slots: a block of ours every 1.5 s. Before the
    // fix, every block after the first took the same two oldest reports, found them in its ancestors,
    // and came out empty.
    const deadline = Date.now() + 30_000;
    let found = await where();
    while (!found.every((r) => r.status === 'included') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      found = await where();
    }
    expect(found.map((r) => r.status)).toEqual(ids.map(() => 'included'));
    const heights = found.map((r) => r.height);
    expect(new Set(heights).size).toBeGreaterThanOrEqual(REPORTS / MAX_BLOCK_TRANSACTIONS);
    // A block certified before the restart may still become final; none holding these reports does.
    const status = (await harness.get('/chain/status')).body as { final: { height: string } };
    expect(heights.every((h) => BigInt(h!) > BigInt(status.final.height))).toBe(true);
  });
});
