import { ConsortiumHarness } from '../../../test/support/consortium-harness';

/** Room for one batch of BATCH in the verification queue and in the mempool. */
const BOUND = 10;
const BATCH = 10;
const CONCURRENT = 5;

describe('intake back-pressure under concurrent requests', () => {
  let harness: ConsortiumHarness;

  beforeAll(async () => {
    harness = await ConsortiumHarness.start({
      nodeEnv: { VERIFY_QUEUE_MAX: String(BOUND), MEMPOOL_MAX_REPORTS: String(BOUND) },
    });
  });

  afterAll(async () => {
    await harness?.stop();
  });

  it('given batches that fit the bounds one at a time, when sent all at once, should accept one and turn the others away with Retry-After', async () => {
    const { simulator, meter } = await harness.enrolBillingMeter(23, 1);
    // The node as a validator only: no block takes reports out of the mempool while the test counts.
    harness.nodeEnv.DELEGATE_KEYSTORES = '';
    await harness.restartNode();

    const batches = Array.from({ length: CONCURRENT }, (_, b) =>
      Array.from({ length: BATCH }, (_, k) => {
        const at = Date.now() + b * BATCH + k;
        return meter.reporter.report(simulator.reading(meter.spec.meterId, at), at).toJSON();
      }),
    );
    const answers = await Promise.all(
      batches.map(async (reports) => {
        const response = await fetch(`${harness.nodeUrl}/reports/batch`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ reports }),
        });
        return {
          status: response.status,
          retryAfter: response.headers.get('retry-after'),
          body: (await response.json()) as { accepted?: number; code?: string },
        };
      }),
    );

    const accepted = answers.filter((a) => a.status === 200);
    const refused = answers.filter((a) => a.status !== 200);
    expect(accepted).toHaveLength(1);
    expect(accepted[0]!.body.accepted).toBe(BATCH);
    expect(refused).toHaveLength(CONCURRENT - 1);
    for (const answer of refused) {
      expect([429, 503]).toContain(answer.status);
      expect(Number(answer.retryAfter)).toBeGreaterThan(0);
      expect(['INTAKE.BUSY', 'INTAKE.MEMPOOL_FULL']).toContain(answer.body.code);
    }
    const { rows } = await harness.db.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM mempool_reports',
    );
    expect(rows[0]!.n).toBeLessThanOrEqual(BOUND);
  });
});
