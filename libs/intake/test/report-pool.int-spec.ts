import { createHash } from 'node:crypto';

import type { PoolClient } from 'pg';

import { inTransaction } from '@app/persistence';
import { createTestDatabase, type TestDatabase } from '@app/testing';

import { type PooledReport, recordAndPool } from '../src/report-pool';

function report(meter: number, nonce: number): PooledReport {
  const bytes = Buffer.from(`report of meter-${meter} nonce ${nonce}`);
  const id = createHash('sha256').update(bytes).digest();
  return {
    id,
    idHex: id.toString('hex'),
    meterId: `meter-${String(meter).padStart(3, '0')}`,
    nonce: BigInt(nonce),
    timestamp: Date.UTC(2026, 10, 28, 12),
    bytes,
  };
}

describe('recordAndPool', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase({ poolSize: 4 });
  });

  afterAll(async () => {
    await db.drop();
  });

  it('given a batch with a report already recorded, should pool only the new ones and return their ids', async () => {
    const first = [report(1, 1), report(1, 2)];
    const again = [report(1, 2), report(1, 3), report(2, 1)];
    await inTransaction(db.pool, (sql) => recordAndPool(sql, first, new Date()));
    const fresh = await inTransaction(db.pool, (sql) => recordAndPool(sql, again, new Date()));
    expect([...fresh].sort()).toEqual([again[1]!.idHex, again[2]!.idHex].sort());
    const { rows } = await db.pool.query<{ n: string }>(
      "SELECT count(*) AS n FROM mempool_reports WHERE meter_id IN ('meter-001', 'meter-002')",
    );
    expect(Number(rows[0]!.n)).toBe(4);
  });

  it('given two batches in flight holding the same reports in opposite orders, should record each once and fail neither', async () => {
    // Each row takes a millisecond, so that both statements are inserting at once and meet midway.
    await db.pool.query(`
      CREATE FUNCTION slow_insert() RETURNS trigger LANGUAGE plpgsql AS
        $$ BEGIN PERFORM pg_sleep(0.001); RETURN NEW; END $$;
      CREATE TRIGGER slow_insert BEFORE INSERT ON report_nonces FOR EACH ROW EXECUTE FUNCTION slow_insert();
    `);
    const shared = Array.from({ length: 300 }, (_, i) => report(100 + (i % 50), i));
    const [a, b] = await Promise.all([db.pool.connect(), db.pool.connect()]);
    try {
      await Promise.all([a.query('BEGIN'), b.query('BEGIN')]);
      const recordAndCommit = async (sql: PoolClient, reports: PooledReport[]) => {
        const fresh = await recordAndPool(sql, reports, new Date());
        await sql.query('COMMIT');
        return fresh;
      };
      const [freshA, freshB] = await Promise.all([
        recordAndCommit(a, shared),
        recordAndCommit(b, [...shared].reverse()),
      ]);
      expect(freshA.size + freshB.size).toBe(shared.length);
      expect(new Set([...freshA, ...freshB]).size).toBe(shared.length);
    } finally {
      await Promise.all([a.query('ROLLBACK'), b.query('ROLLBACK')]).catch(() => undefined);
      a.release();
      b.release();
    }
    const { rows } = await db.pool.query<{ n: string }>(
      "SELECT count(*) AS n FROM mempool_reports WHERE meter_id >= 'meter-100'",
    );
    expect(Number(rows[0]!.n)).toBe(shared.length);
  });
});
