import { Inject, Injectable, Logger } from '@nestjs/common';
import { Counter, Registry } from 'prom-client';

import { EventStore } from '@app/event-store';
import { encodeQuorumCertificate, entryBytes, roundOfSlot, type Transaction } from '@app/ledger';
import { DomainEvent, JournalEvent } from '@app/event-store';
import { applyRegistryChange, type StreamEvent } from '@app/registry';
import type { PoolClient } from 'pg';

import { ChainContext } from './chain-context.service';
import type { FinalTip } from './chain.repository';
import type { Candidate } from './chain-tree';
import { MempoolService } from './mempool.service';
import { ScheduleService } from './schedule.service';

export interface BlockFinalized {
  height: string;
  hash: string;
  slot: string;
  round: string;
  producer: string;
  transactions: number;
  reports: number;
  missedSlots: string[];
}

export interface FinalizedCounts {
  reports: number;
  transactions: number;
  missedSlots: number;
}

@DomainEvent('chain.block-finalized', 1)
export class BlockFinalizedEvent extends JournalEvent<BlockFinalized> {}

/**
 * Makes a block final, in one transaction: the slots skipped since the previous final block are
 * recorded as missed (by whom), the rounds that ended are elected (before this block's own changes),
 * the block and its transactions, receiver index and certificate are appended, the registry
 * transactions change the state tables (with their journal events), the replay record follows the
 * chain, and the mempool lets go of what the block holds.
 */
@Injectable()
export class Finalizer {
  private readonly logger = new Logger(Finalizer.name);
  private readonly missed: Counter<'delegate'>;

  constructor(
    private readonly store: EventStore,
    private readonly context: ChainContext,
    private readonly schedules: ScheduleService,
    private readonly mempool: MempoolService,
    @Inject(Registry) metrics: Registry,
  ) {
    this.missed = new Counter({
      name: 'cbsg_missed_slots_total',
      help: 'Slots without a block in the final chain',
      labelNames: ['delegate'],
      registers: [metrics],
    });
  }

  /** Returns what the block added to the final chain: reports, organisations' transactions, missed slots. */
  async finalize(candidate: Candidate, previous: FinalTip): Promise<FinalizedCounts> {
    const block = candidate.block;
    const header = block.header;
    const timing = this.context.timing;
    const round = roundOfSlot(timing, header.slot);
    const at = new Date(header.timestamp);
    const plan = await this.schedules.planFinalization(previous, header.slot);
    const missedSlots = plan.missed;
    await this.store.transaction(async (uow) => {
      const sql = uow.sql;
      if (missedSlots.length > 0) {
        await sql.query(
          `INSERT INTO missed_slots (slot, round, delegate)
           SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[]) ON CONFLICT DO NOTHING`,
          [
            missedSlots.map((m) => m.slot.toString()),
            missedSlots.map((m) => m.round.toString()),
            missedSlots.map((m) => m.delegate),
          ],
        );
      }
      await this.schedules.saveSettled(sql, plan);
      await sql.query(
        `INSERT INTO blocks (height, hash, previous_hash, slot, round, timestamp, producer, transactions_root, receiver_index_root,
                             transaction_count, header, signature, finalized_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, now())`,
        [
          block.height.toString(),
          Buffer.from(block.hash),
          Buffer.from(header.previousHash),
          header.slot.toString(),
          round.toString(),
          at,
          header.producer,
          Buffer.from(header.transactionsRoot),
          Buffer.from(header.receiverIndexRoot),
          header.transactionCount,
          Buffer.from(block.headerBytes),
          Buffer.from(block.signature),
        ],
      );
      await insertEntries(sql, candidate);
      if (candidate.certificate) {
        await sql.query(
          'INSERT INTO block_certificates (height, block_hash, certificate) VALUES ($1, $2, $3)',
          [
            block.height.toString(),
            Buffer.from(block.hash),
            Buffer.from(encodeQuorumCertificate(candidate.certificate)),
          ],
        );
      }
      const transactions = block.entries.flatMap((e) => (e.type === 'transaction' ? [e.transaction] : []));
      const changed: Array<StreamEvent & { tx: Transaction }> = [];
      for (const [i, change] of candidate.changes.entries()) {
        const tx: Transaction = transactions[i]!;
        for (const { streamId, event } of await applyRegistryChange(sql, change, tx, at)) {
          changed.push({ streamId, event, tx });
        }
      }
      // The streams' versions in one read. Appends are written at commit: two changes of one stream in
      // a block (a meter registered and activated, two contract results) count on from each other.
      const versions = await this.store.streamVersions(
        changed.map((c) => c.streamId),
        sql,
      );
      for (const { streamId, event, tx } of changed) {
        const version = versions.get(streamId) ?? 0;
        uow.append({
          streamId,
          expectedVersion: version,
          events: [{ ...event, metadata: { actor: tx.sender, causationId: tx.hashHex } }],
        });
        versions.set(streamId, version + 1);
      }
      await this.mempool.removeIncluded(sql, block.entries);
      await sql.query('DELETE FROM candidate_blocks WHERE hash = $1', [Buffer.from(block.hash)]);
      const reports = block.entries.filter((e) => e.type === 'report').length;
      uow.append({
        streamId: `block-${block.height}`,
        expectedVersion: 0,
        events: [
          {
            ...BlockFinalizedEvent.create({
              height: block.height.toString(),
              hash: block.hashHex,
              slot: header.slot.toString(),
              round: round.toString(),
              producer: header.producer,
              transactions: block.entries.length,
              reports,
              missedSlots: missedSlots.map((m) => m.slot.toString()),
            }),
            occurredAt: at,
            metadata: { actor: this.context.nodeId },
          },
        ],
      });
    });
    this.schedules.settle(plan);
    // After the commit: the pending state must not keep what it read before this block.
    this.mempool.invalidate();
    for (const m of missedSlots) {
      this.missed.inc({ delegate: m.delegate });
    }
    if (missedSlots.length > 0) {
      this.logger.log(
        `height ${block.height}: missed slot(s) ${missedSlots.map((m) => `${m.slot} (${m.delegate})`).join(', ')}`,
      );
    }
    const reports = block.entries.filter((e) => e.type === 'report').length;
    return { reports, transactions: block.entries.length - reports, missedSlots: missedSlots.length };
  }
}

/** The block's entries, its receiver index, and the replay record (the chain wins over the mempool). */
async function insertEntries(sql: PoolClient, candidate: Candidate): Promise<void> {
  const block = candidate.block;
  const entries = block.entries;
  if (entries.length === 0) {
    return;
  }
  await sql.query(
    `INSERT INTO block_transactions (height, position, hash, kind, bytes, meter_id, nonce, receivers)
     SELECT $1, position - 1, hash, kind, bytes, meter_id, nonce, receivers
     FROM ROWS FROM (unnest($2::bytea[]), unnest($3::text[]), unnest($4::bytea[]), unnest($5::text[]), unnest($6::numeric[]),
                     jsonb_array_elements($7::jsonb)) WITH ORDINALITY AS t(hash, kind, bytes, meter_id, nonce, receivers_json, position)
     CROSS JOIN LATERAL (SELECT ARRAY(SELECT jsonb_array_elements_text(t.receivers_json)) AS receivers) r`,
    [
      block.height.toString(),
      entries.map((e) => Buffer.from(e.type === 'report' ? e.report.id : e.transaction.hash)),
      entries.map((e) => (e.type === 'report' ? 'report' : e.transaction.kind)),
      entries.map((e) => Buffer.from(entryBytes(e))),
      entries.map((e) => (e.type === 'report' ? e.report.meterId : null)),
      entries.map((e) => (e.type === 'report' ? e.report.nonce.toString() : null)),
      JSON.stringify(entries.map((e) => (e.type === 'report' ? e.report.receivers.map((r) => r.id) : []))),
    ],
  );
  const shares: Array<[string, number]> = [];
  entries.forEach((e, position) => {
    if (e.type === 'report') {
      for (const r of e.report.receivers) {
        shares.push([r.id, position]);
      }
    }
  });
  if (shares.length > 0) {
    await sql.query(
      'INSERT INTO block_shares (receiver_id, height, position) SELECT receiver, $1, position FROM unnest($2::text[], $3::int[]) AS s(receiver, position)',
      [block.height.toString(), shares.map((s) => s[0]), shares.map((s) => s[1])],
    );
  }
  const reports = entries.flatMap((e) => (e.type === 'report' ? [e.report] : []));
  if (reports.length > 0) {
    await sql.query(
      `INSERT INTO report_nonces (meter_id, nonce, report_id) SELECT * FROM unnest($1::text[], $2::numeric[], $3::bytea[])
       ON CONFLICT (meter_id, nonce) DO UPDATE SET report_id = EXCLUDED.report_id`,
      [
        reports.map((r) => r.meterId),
        reports.map((r) => r.nonce.toString()),
        reports.map((r) => Buffer.from(r.id)),
      ],
    );
  }
}
