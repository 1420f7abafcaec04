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

  let enrolled: Awaited<ReturnType<ConsortiumHarness['enrolBillingMeter']>>;

  it('given more pending reports than a block holds and no block final, should put the next ones in each new block, not the ones its ancestors hold', async () => {
    enrolled = await harness.enrolBillingMeter(11, 16);
    const { simulator, meter } = enrolled;

    // One delegate of three: its blocks never gather a quorum (nor 2/3 of producers building on
    // them), so nothing becomes final and every report stays in the mempool while blocks pile up.
    harness.nodeEnv.DELEGATE_KEYSTORES = path.join(harness.dir, CONSORTIUM_FILES.delegateKey('delegate-1'));
    harness.nodeEnv.MAX_BLOCK_TRANSACTIONS = String(MAX_BLOCK_TRANSACTIONS);
    harness.nodeEnv.INTAKE_HOLD_FINALITY_LAG_SLOTS = '0';
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

  it('given nothing final for INTAKE_HOLD_FINALITY_LAG_SLOTS, should turn meters away with 503 and Retry-After, storing nothing, until finality is back', async () => {
    // The meter enrolled above (no registration can become final from here on).
    const { simulator, meter } = enrolled;
    const report = () => {
      const at = Date.now();
      return meter.reporter.report(simulator.reading(meter.spec.meterId, at), at);
    };
    const lag = async () => {
      const status = (await harness.get('/chain/status')).body as {
        currentSlot: string;
        final: { slot: string };
      };
      return Number(BigInt(status.currentSlot) - BigInt(status.final.slot));
    };

    // Still one delegate of three: nothing becomes final, and from 4 slots (2 s) on meters are held.
    harness.nodeEnv.INTAKE_HOLD_FINALITY_LAG_SLOTS = '4';
    await harness.restartNode();
    while ((await lag()) < 5) {
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const held = report();
    const answer = await fetch(`${harness.nodeUrl}/reports`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(held.toJSON()),
    });
    expect(answer.status).toBe(503);
    expect(answer.headers.get('retry-after')).toBe('1');
    expect(await answer.json()).toMatchObject({
      code: 'INTAKE.CATCHING_UP',
      message: expect.stringContaining('no block has become final for'),
    });
    expect((await harness.get(`/reports/${held.idHex}`)).status).toBe(404);

    // Every delegate back: blocks become final again, and meters are taken again.
    delete harness.nodeEnv.DELEGATE_KEYSTORES;
    harness.nodeEnv.INTAKE_HOLD_FINALITY_LAG_SLOTS = '0';
    await harness.restartNode();
    const deadline = Date.now() + 30_000;
    let status = 0;
    while (status !== 201 && Date.now() < deadline) {
      status = (await harness.post('/reports', report().toJSON())).status;
      if (status !== 201) {
        expect(status).toBe(503);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
    expect(status).toBe(201);
  });
});
