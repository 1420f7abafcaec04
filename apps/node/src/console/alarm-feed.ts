import { Inject, Injectable } from '@nestjs/common';
import type { Pool } from 'pg';

import { Transaction } from '@app/ledger';
import { PG_POOL } from '@app/persistence';
import type { ContractResultBody, ReceiverPublicationBody } from '@app/registry';

import type { Alarm, AlarmPage, AlarmSeverity } from './console.types';

/** Where a page of alarms starts: below this transaction of the final chain. */
export interface AlarmCursor {
  height: bigint;
  /** Below this position of that block; every position when absent. */
  position?: number;
}

/**
 * Contract actions that say all is well: not alarms. Every other action a receiver's contract takes
 * (the grid operator's feedback contract: re-upload-alarm, power-saving-mode, forced-trip,
 * notify-pay, notify-prepaid-low; or a type a newer contract introduces) is one.
 */
const ROUTINE_ACTIONS: ReadonlySet<string> = new Set(['run-as-usual', 'report-price']);

const ACTION_SEVERITY: Readonly<Record<string, AlarmSeverity>> = {
  're-upload-alarm': 'critical',
  'forced-trip': 'critical',
  'power-saving-mode': 'warning',
  'notify-pay': 'notice',
  'notify-prepaid-low': 'notice',
};

/** Publications that name meters or devices someone must look at; the others are analyses. */
const FINDINGS: Readonly<Record<string, { severity: AlarmSeverity; title: string }>> = {
  'theft-suspects': { severity: 'critical', title: 'theft suspects' },
  'device-report': { severity: 'warning', title: 'devices with faults' },
};

const ALARM_KINDS = ['contract.result', 'receiver.publication'];

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
        ALARM_KINDS,
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
  const tx = Transaction.decode(row.bytes);
  const common = {
    height: row.height,
    position: row.position,
    transaction: tx.hashHex,
    organisation: tx.sender,
    at: tx.timestamp,
  };
  // The chain only holds bodies the registry's rules accepted (libs/registry transaction-bodies).
  if (tx.kind === 'contract.result') {
    const body = tx.body as ContractResultBody;
    return body.actions
      .filter((action) => !ROUTINE_ACTIONS.has(action.type))
      .map((action) => ({
        ...common,
        source: 'contract.result' as const,
        type: action.type,
        severity: ACTION_SEVERITY[action.type] ?? 'warning',
        receiverId: body.receiverId,
        meterId: body.meterId,
        message: action.message,
        subjects: [],
      }));
  }
  if (tx.kind === 'receiver.publication') {
    const body = tx.body as ReceiverPublicationBody;
    const finding = FINDINGS[body.subject];
    if (!finding || body.summary.length === 0) {
      return [];
    }
    const named = body.summary.map((s) => s.id);
    return [
      {
        ...common,
        source: 'receiver.publication' as const,
        type: body.subject,
        severity: finding.severity,
        receiverId: body.receiverId,
        meterId: named.length === 1 ? named[0]! : null,
        message: `${named.length} ${finding.title}: ${named.slice(0, 5).join(', ')}${named.length > 5 ? ', ...' : ''}`,
        subjects: body.summary.map((s) => ({ id: s.id, codes: [...s.codes] })),
      },
    ];
  }
  return [];
}
