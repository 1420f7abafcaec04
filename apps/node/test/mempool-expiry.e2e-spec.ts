import { ConsortiumHarness, ORGANISATIONS } from '../../../test/support/consortium-harness';

/** Short enough for a test to outwait it, long enough for enrolment's transactions to get in. */
const WINDOW_MS = 6_000;

describe('the mempool: what no block took within the accept window is removed and put on record', () => {
  let harness: ConsortiumHarness;

  beforeAll(async () => {
    harness = await ConsortiumHarness.start({
      nodeEnv: { ACCEPT_WINDOW_MS: String(WINDOW_MS), FUTURE_SKEW_MS: '1000' },
    });
  });

  afterAll(async () => {
    await harness?.stop();
  });

  it('given a report and a transaction accepted while no delegate produces, should expire both after the window, with an event each and a metric', async () => {
    const { simulator, meter } = await harness.enrolBillingMeter(3, 4);

    // The same node as a validator only: it accepts, but no block comes (and it keeps accepting,
    // however long nothing becomes final, which is what this test is about).
    harness.nodeEnv.DELEGATE_KEYSTORES = '';
    harness.nodeEnv.INTAKE_HOLD_FINALITY_LAG_SLOTS = '0';
    await harness.restartNode();
    const now = Date.now();
    const report = meter.reporter.report(simulator.reading(meter.spec.meterId, now), now);
    expect((await harness.post('/reports', report.toJSON())).status).toBe(201);
    const vote = await harness.submit(ORGANISATIONS.controlCenter, 'vote', { approves: ['delegate-1'] });
    expect(vote.status).toBe(202);
    const voteHash = (vote.body as { hash: string }).hash;

    const pending = async () => {
      const { rows } = await harness.db.pool.query<{ n: number }>(
        `SELECT (SELECT count(*)::int FROM mempool_reports WHERE id = $1) + (SELECT count(*)::int FROM mempool_transactions WHERE hash = $2) AS n`,
        [Buffer.from(report.id), Buffer.from(voteHash, 'hex')],
      );
      return rows[0]!.n;
    };
    expect(await pending()).toBe(2);
    // Still pending inside the window.
    await new Promise((resolve) => setTimeout(resolve, WINDOW_MS / 2));
    expect(await pending()).toBe(2);

    const deadline = Date.now() + WINDOW_MS + 15_000;
    while ((await pending()) > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(await pending()).toBe(0);

    const { rows: events } = await harness.db.pool.query<{
      stream_id: string;
      type: string;
      payload: unknown;
    }>(`SELECT stream_id, type, payload FROM events WHERE stream_id = ANY($1::text[]) ORDER BY position`, [
      [`report-${report.idHex}`, `transaction-${voteHash}`],
    ]);
    expect(events.map((e) => [e.stream_id, e.type])).toEqual(
      expect.arrayContaining([
        [`report-${report.idHex}`, 'intake.report-accepted'],
        [`report-${report.idHex}`, 'mempool.entry-expired'],
        [`transaction-${voteHash}`, 'mempool.transaction-accepted'],
        [`transaction-${voteHash}`, 'mempool.entry-expired'],
      ]),
    );
    expect(events).toHaveLength(4);
    expect(
      events.find((e) => e.stream_id === `report-${report.idHex}` && e.type === 'mempool.entry-expired')!
        .payload,
    ).toEqual({
      id: report.idHex,
      kind: 'report',
      windowMs: WINDOW_MS,
    });

    const metrics = await (await fetch(`${harness.nodeUrl}/metrics`)).text();
    expect(metrics).toMatch(/cbsg_mempool_expired_total\{kind="report"\} 1\b/);
    expect(metrics).toMatch(/cbsg_mempool_expired_total\{kind="transaction"\} 1\b/);
    // Sent again, it is too old to take: an expired receipt is not renewed behind anyone's back.
    expect((await harness.post('/reports', report.toJSON())).body).toMatchObject({ code: 'REPORT.STALE' });
    expect(await pending()).toBe(0);
  });
});
