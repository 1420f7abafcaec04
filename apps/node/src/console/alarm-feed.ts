import { Inject, Injectable } from '@nestjs/common';
import type { Pool } from 'pg';

import { ALARM_TRANSACTION_KINDS, alarmsOf } from '@app/chain';
import { Transaction } from '@app/ledger';
import { PG_POOL } from '@app/persistence';

import type { Alarm, AlarmPage } from './console.types';

/** Where a page of alarms starts: below this transaction of the final chain. */
export interface AlarmCursor {
  height: bigint;
  /** Below this position of that block; every position when absent. */
  position?: number;
}

/** Rows read per query, and at most per request: a page of alarms is found or given up on quickly. */
const BATCH_ROWS = 500;
const SCAN_BUDGET_ROWS = 5_000;
/** Final transactions never change: their alarms are decoded once. */
const CACHED_TRANSACTIONS = 20_000;

interface AlarmRow {
  height: string;
  position: number;
  bytes: Buffer;
}

/**
 * The alarms receivers have put on the final chain (DESIGN.md section 5): `contract.result`
 * transactions whose actions need attention (tampered data, power saving, forced trips, payment
 * notices) and `receiver.publication` transactions with findings (theft suspects, device faults).
 * Read newest first from block_transactions and decoded as the registry encodes them.
 */
@Injectable()
export class AlarmFeed {
  private readonly decoded = new Map<string, Alarm[]>();

  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  async page(before: AlarmCursor | undefined, limit: number): Promise<AlarmPage> {
    const alarms: Alarm[] = [];
    let cursor = before;
    let scanned = 0;
    for (;;) {
      const rows = await this.rowsBefore(cursor);
      for (const row of rows) {
        alarms.push(...this.alarmsOf(row));
        scanned += 1;
        cursor = { height: BigInt(row.height), position: row.position };
        if (alarms.length >= limit || scanned >= SCAN_BUDGET_ROWS) {
          return { alarms, next: `${row.height}:${row.position}` };
        }
      }
      if (rows.length < BATCH_ROWS) {
        return { alarms, next: null };
      }
    }
  }

  private async rowsBefore(cursor: AlarmCursor | undefined): Promise<AlarmRow[]> {
    const { rows } = await this.pool.query<AlarmRow>(
      `SELECT height, position, bytes FROM block_transactions
       WHERE kind = ANY($1::text[])
         AND ($2::bigint IS NULL OR (height, position) < ($2::bigint, $3::int))
       ORDER BY height DESC, position DESC LIMIT $4`,
      [
        ALARM_TRANSACTION_KINDS,
        cursor?.height.toString() ?? null,
        // Without a position, every transaction of the cursor's block is excluded too.
        cursor?.position ?? -1,
        BATCH_ROWS,
      ],
    );
    return rows;
  }

  private alarmsOf(row: AlarmRow): Alarm[] {
    const key = `${row.height}:${row.position}`;
    const known = this.decoded.get(key);
    if (known) {
      return known;
    }
    const alarms = decodeAlarms(row);
    this.decoded.set(key, alarms);
    if (this.decoded.size > CACHED_TRANSACTIONS) {
      // Maps iterate in insertion order: the first key is the oldest entry.
      this.decoded.delete(this.decoded.keys().next().value!);
    }
    return alarms;
  }
}

function decodeAlarms(row: AlarmRow): Alarm[] {
  return alarmsOf(
    { type: 'transaction', transaction: Transaction.decode(row.bytes) },
    row.height,
    row.position,
  );
}
