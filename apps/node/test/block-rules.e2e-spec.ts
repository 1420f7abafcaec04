import { blockToWire } from '@app/chain';
import type { Report } from '@app/crypto';
import { enrolMeters, enrolStandardReceivers, type EnrolledMeter } from '@app/devnet';
import type { Block } from '@app/ledger';
import { FleetSimulator, STANDARD_DIMENSIONS, standardPolicies } from '@app/meter-sdk';

import { ConsortiumHarness, ORGANISATIONS } from '../../../test/support/consortium-harness';

const RECEIVERS = {
  controlCenter: 'cc-analytics',
  gridOperator: 'operator-billing',
  equipmentSupplier: 'supplier-maintenance',
};

/**
 * A block's size and its entries' window are the consortium's (the genesis), not a node's setting:
 * two nodes configured differently must still agree on every block.
 */
describe("the genesis' block rules, whatever the node's own settings", () => {
  let harness: ConsortiumHarness;
  let meter: EnrolledMeter;
  const simulator = new FleetSimulator({ seed: 9, meters: 1 });

  beforeAll(async () => {
    harness = await ConsortiumHarness.start({
      blockRules: { maxBlockTransactions: 2, entryWindowMs: 60_000 },
      // This node's own settings are wider than the consortium's on both counts.
      nodeEnv: { ACCEPT_WINDOW_MS: String(24 * 3_600_000), MAX_BLOCK_TRANSACTIONS: '5000' },
    });
    const ctx = harness.enrolment();
    await enrolStandardReceivers(ctx, RECEIVERS, ORGANISATIONS);
    const enrolled = await enrolMeters(ctx, [
      {
        meterId: simulator.meters[0]!.meterId,
        registrar: ORGANISATIONS.gridOperator,
        dimensions: STANDARD_DIMENSIONS,
        policy: standardPolicies(RECEIVERS)[0]!,
        epoch: { maxReports: 8, maxAgeMs: 3_600_000 },
        owner: { name: 'owner', notifyUrl: 'https://phones.example/owner' },
      },
    ]);
    meter = enrolled[0]!;
  });

  afterAll(async () => {
    await harness?.stop();
  });

  const report = (at: number): Report => meter.reporter.report(simulator.reading(meter.spec.meterId, at), at);

  /** A block from the slot's producer on the node's head, as a faulty delegate would send it. */
  async function peerBlock(
    entries: Block['entries'],
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const { slot, producer } = await harness.upcomingSlot();
    const block = await harness.blockOnHead(slot, producer, entries);
    return harness.sendAsPeer('block', { block: blockToWire(block) });
  }

  it('given a block with more entries than the genesis allows, should refuse it although MAX_BLOCK_TRANSACTIONS is larger', async () => {
    const now = Date.now();
    const answer = await peerBlock(
      [0, 1, 2].map((k) => ({ type: 'report' as const, report: report(now + k) })),
    );
    expect(answer).toMatchObject({ status: 422, body: { code: 'BLOCK.TOO_LARGE' } });
  });

  it("given a block with a report older than the genesis' window, should refuse it although ACCEPT_WINDOW_MS is a day", async () => {
    const answer = await peerBlock([{ type: 'report', report: report(Date.now() - 5 * 60_000) }]);
    expect(answer).toMatchObject({ status: 422, body: { code: 'BLOCK.REPORT_OUT_OF_WINDOW' } });
  });

  it("given more reports than one block may hold, should make blocks of at most the genesis' size", async () => {
    const now = Date.now();
    const reports = [0, 1, 2, 3, 4].map((k) => report(now + 10 + k));
    const accepted = await harness.post('/reports/batch', { reports: reports.map((r) => r.toJSON()) });
    expect(accepted.body).toMatchObject({ accepted: reports.length });
    const heights = new Set<string>();
    for (const r of reports) {
      await harness.waitFor(`/transactions/${r.idHex}`, (b) => b.status === 'final');
      heights.add(((await harness.get(`/transactions/${r.idHex}`)).body as { height: string }).height);
    }
    for (const height of heights) {
      const block = (await harness.get(`/blocks/${height}`)).body as { transactions: unknown[] };
      expect(block.transactions.length).toBeLessThanOrEqual(2);
    }
    expect(heights.size).toBeGreaterThanOrEqual(3);
  });
});
