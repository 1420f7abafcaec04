import type { PoolClient } from 'pg';

import type { Report } from '@app/crypto';

/** What the replay record and the mempool keep of a report. */
export type PooledReport = Pick<Report, 'id' | 'idHex' | 'meterId' | 'nonce' | 'timestamp' | 'bytes'>;

/**
 * Records (meter, nonce) for each report and puts the reports recorded now (not before) in the
 * mempool, in one statement: one round trip per batch instead of two. Returns the ids recorded now.
 *
 * Rows are inserted in (meter, nonce) order whatever the input's order. Two batches in flight can
 * hold the same report (a meter's retry, or the meter and a peer at once); each insert waits on the
 * other's uncommitted key, and in opposite orders they would deadlock and both batches fail.
 */
export async function recordAndPool(
  sql: PoolClient,
  reports: readonly PooledReport[],
  receivedAt: Date,
): Promise<Set<string>> {
  const { rows } = await sql.query<{ report_id: Buffer }>(
    `WITH input AS (
       SELECT * FROM unnest($1::bytea[], $2::text[], $3::numeric[], $4::timestamptz[], $5::bytea[])
         AS i(id, meter_id, nonce, timestamp, bytes)
     ), fresh AS (
       INSERT INTO report_nonces (meter_id, nonce, report_id)
       SELECT meter_id, nonce, id FROM input ORDER BY meter_id, nonce
       ON CONFLICT DO NOTHING RETURNING report_id
     ), pooled AS (
       INSERT INTO mempool_reports (id, meter_id, nonce, timestamp, bytes, received_at)
       SELECT i.id, i.meter_id, i.nonce, i.timestamp, i.bytes, $6::timestamptz
       FROM input i JOIN fresh f ON f.report_id = i.id
     )
     SELECT report_id FROM fresh`,
    [
      reports.map((r) => Buffer.from(r.id)),
      reports.map((r) => r.meterId),
      reports.map((r) => r.nonce.toString()),
      reports.map((r) => new Date(r.timestamp)),
      reports.map((r) => Buffer.from(r.bytes)),
      receivedAt,
    ],
  );
  return new Set(rows.map((r) => r.report_id.toString('hex')));
}
