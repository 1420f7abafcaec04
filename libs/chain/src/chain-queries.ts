import { Inject, Injectable } from '@nestjs/common';
import type { Pool } from 'pg';

import { blsSign, Report, type ReportJson, toHex } from '@app/crypto';
import { canonicalJson } from '@app/kernel';
import {
  decodeHeader,
  firstSlotOfRound,
  type InclusionProof,
  lastSlotOfRound,
  merkleProof,
} from '@app/ledger';
import { keysetPage, type Page, PG_POOL, SqlConditions } from '@app/persistence';

import { ChainContext } from './chain-context.service';
import { ChainService } from './chain.service';
import { ScheduleService } from './schedule.service';

export type TransactionStatus =
  | { status: 'final'; hash: string; kind: string; height: string; position: number; blockHash: string }
  | { status: 'included'; hash: string; height: string; blockHash: string }
  | { status: 'pending'; hash: string; kind: string }
  | { status: 'unknown'; hash: string };

export interface BlockSummary {
  height: string;
  hash: string;
  slot: string;
  round: string;
  producer: string;
  timestamp: Date;
  transactionCount: number;
  finalizedAt: Date;
}

export interface BlockDetail {
  height: string;
  hash: string;
  previousHash: string;
  slot: string;
  timestamp: Date;
  producer: string;
  transactionsRoot: string;
  receiverIndexRoot: string;
  transactionCount: number;
  parentCertified: boolean;
  signature: string;
  finalizedAt: Date;
  transactions: BlockTransaction[];
}

export type ListOrder = 'asc' | 'desc';

export interface FinalBlockFilter {
  /** Oldest first (asc) or newest first (desc). */
  order: ListOrder;
  /** The height of the last block of the previous page (exclusive). */
  cursor?: bigint;
  fromHeight?: bigint;
  toHeight?: bigint;
  producer?: string;
}

export interface BlockTransaction {
  position: number;
  hash: string;
  kind: string;
  meterId: string | null;
}

export interface BlockTransactionFilter {
  /** The position of the last transaction of the previous page (exclusive). */
  cursor?: number;
  kind?: string;
  meterId?: string;
}

export interface MissedSlot {
  slot: string;
  round: string;
  delegate: string;
}

export interface MissedSlotFilter {
  order: ListOrder;
  /** The slot of the last entry of the previous page (exclusive). */
  cursor?: bigint;
  round?: bigint;
  delegate?: string;
}

export interface RoundView {
  round: string;
  elected: string[];
  slots: Array<{ slot: string; producer: string; height: string | null; missed: boolean }>;
  /**
   * Delegates kept out of this round's election for the slots they missed in round r-2 (the round
   * whose end elects this one), with those slots.
   */
  dropped: Array<{ delegate: string; missedRound: string; missedSlots: string[] }>;
}

export type StoredReport =
  | { status: 'final'; height: string; position: number; blockHash: string; report: ReportJson }
  | { status: 'included'; height: string; blockHash: string; report: ReportJson }
  | { status: 'pending'; receivedAt: Date; report: ReportJson };

/** Final blocks from a height on, each with the reports that carry a share for one receiver. */
export interface ReceiverShares {
  finalHeight: string;
  blocks: Array<{
    height: string;
    hash: string;
    previousHash: string;
    /** The header bytes and the producer's signature (hex): the receiver recomputes the hash from them. */
    header: string;
    signature: string;
    reports: Array<{ position: number; report: string }>;
  }>;
}

/** Signed head digests: BLS over the canonical JSON of the digest's fields, under this tag and the chain id. */
export const HEAD_DIGEST_TAG = 'CBSG-HEAD-DIGEST-V1';

export interface HeadDigest {
  chainId: string;
  nodeId: string;
  finalHeight: string;
  finalHash: string;
  headHeight: string;
  headHash: string;
  at: number;
  /** BLS signature (HEAD_DIGEST_TAG) of the node's genesis key over the canonical JSON of the fields above. */
  signature: string;
}

/**
 * How many transactions' worth of final blocks stay in memory once served: a final block never
 * changes, and readers mostly ask for the same few recent ones.
 */
const FINAL_BLOCK_CACHE_TRANSACTIONS = 20_000;

/** Reads of the chain for the API: transaction status, inclusion proofs, signed head digests. */
@Injectable()
export class ChainQueries {
  /** Least recently served first (a Map keeps insertion order; a hit moves its block to the end). */
  private readonly finalBlockCache = new Map<string, BlockDetail>();
  private cachedTransactions = 0;
  /** Loads under way, so that many readers of one block cold share a single query. */
  private readonly finalBlockLoads = new Map<string, Promise<BlockDetail | undefined>>();

  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    private readonly chain: ChainService,
    private readonly context: ChainContext,
    private readonly schedules: ScheduleService,
  ) {}

  async transactionStatus(hashHex: string): Promise<TransactionStatus> {
    const hash = Buffer.from(hashHex, 'hex');
    const { rows } = await this.pool.query<{
      height: string;
      position: number;
      kind: string;
      block_hash: Buffer;
    }>(
      `SELECT t.height, t.position, t.kind, b.hash AS block_hash FROM block_transactions t JOIN blocks b ON b.height = t.height WHERE t.hash = $1`,
      [hash],
    );
    const final = rows[0];
    if (final) {
      return {
        status: 'final',
        hash: hashHex,
        kind: final.kind,
        height: final.height,
        position: final.position,
        blockHash: toHex(final.block_hash),
      };
    }
    const included = this.chain.headPath().find((c) => c.entries.has(hashHex));
    if (included) {
      return {
        status: 'included',
        hash: hashHex,
        height: included.block.height.toString(),
        blockHash: included.hashHex,
      };
    }
    const { rows: pending } = await this.pool.query<{ kind: string }>(
      `SELECT kind FROM mempool_transactions WHERE hash = $1 UNION ALL SELECT 'report' FROM mempool_reports WHERE id = $1`,
      [hash],
    );
    return pending[0]
      ? { status: 'pending', hash: hashHex, kind: pending[0].kind }
      : { status: 'unknown', hash: hashHex };
  }

  /** A Merkle proof of a final transaction with its block's header: checkable offline (cbsg verify-proof). */
  async proof(hashHex: string): Promise<InclusionProof | undefined> {
    const { rows } = await this.pool.query<{ height: string; position: number; kind: string }>(
      'SELECT height, position, kind FROM block_transactions WHERE hash = $1',
      [Buffer.from(hashHex, 'hex')],
    );
    const tx = rows[0];
    if (!tx) {
      return undefined;
    }
    const { rows: hashes } = await this.pool.query<{ hash: Buffer }>(
      'SELECT hash FROM block_transactions WHERE height = $1 ORDER BY position',
      [tx.height],
    );
    const { rows: blocks } = await this.pool.query<{
      hash: Buffer;
      header: Buffer;
      signature: Buffer;
      producer: string;
    }>('SELECT hash, header, signature, producer FROM blocks WHERE height = $1', [tx.height]);
    const block = blocks[0]!;
    const proof = merkleProof(
      hashes.map((h) => h.hash),
      tx.position,
    );
    return {
      transaction: { hash: hashHex, kind: tx.kind, position: tx.position },
      block: {
        height: tx.height,
        hash: toHex(block.hash),
        header: toHex(block.header),
        signature: toHex(block.signature),
        producer: block.producer,
      },
      proof: { index: proof.index, leafCount: proof.leafCount, siblings: proof.siblings.map(toHex) },
    };
  }

  /** A page of final blocks, in height order, filtered by height range and producer. */
  async finalBlocks(filter: FinalBlockFilter, limit: number): Promise<Page<BlockSummary>> {
    const conditions = new SqlConditions()
      .add('height', filter.order === 'asc' ? '>' : '<', filter.cursor)
      .add('height', '>=', filter.fromHeight)
      .add('height', '<=', filter.toHeight)
      .add('producer', '=', filter.producer);
    const { rows } = await this.pool.query<{
      height: string;
      hash: Buffer;
      slot: string;
      round: string;
      producer: string;
      timestamp: Date;
      transaction_count: number;
      finalized_at: Date;
    }>(
      `SELECT height, hash, slot, round, producer, timestamp, transaction_count, finalized_at FROM blocks
       ${conditions.where()} ORDER BY height ${filter.order === 'asc' ? 'ASC' : 'DESC'} LIMIT ${conditions.parameter(limit + 1)}`,
      conditions.values,
    );
    const page = keysetPage(rows, limit, (r) => r.height);
    return {
      items: page.items.map((r) => ({
        height: r.height,
        hash: toHex(r.hash),
        slot: r.slot,
        round: r.round,
        producer: r.producer,
        timestamp: r.timestamp,
        transactionCount: r.transaction_count,
        finalizedAt: r.finalized_at,
      })),
      next: page.next,
    };
  }

  /**
   * A final block with all its transactions, or undefined when no block at `height` is final (yet).
   * Served from memory once read: the object is shared, callers must not change it.
   */
  async finalBlock(height: bigint): Promise<BlockDetail | undefined> {
    const key = height.toString();
    const cached = this.finalBlockCache.get(key);
    if (cached) {
      this.finalBlockCache.delete(key);
      this.finalBlockCache.set(key, cached);
      return cached;
    }
    let load = this.finalBlockLoads.get(key);
    if (!load) {
      load = this.readFinalBlock(height)
        .then((block) => {
          if (block) {
            this.keepFinalBlock(key, block);
          }
          return block;
        })
        .finally(() => this.finalBlockLoads.delete(key));
      this.finalBlockLoads.set(key, load);
    }
    return load;
  }

  /** A page of a final block's transactions in block order; undefined when no block at `height` is final. */
  async blockTransactions(
    height: bigint,
    filter: BlockTransactionFilter,
    limit: number,
  ): Promise<Page<BlockTransaction> | undefined> {
    const { rows: blocks } = await this.pool.query('SELECT 1 FROM blocks WHERE height = $1', [
      height.toString(),
    ]);
    if (blocks.length === 0) {
      return undefined;
    }
    const conditions = new SqlConditions()
      .add('height', '=', height)
      .add('position', '>', filter.cursor)
      .add('kind', '=', filter.kind)
      .add('meter_id', '=', filter.meterId);
    const { rows } = await this.pool.query<{
      position: number;
      hash: Buffer;
      kind: string;
      meter_id: string | null;
    }>(
      `SELECT position, hash, kind, meter_id FROM block_transactions ${conditions.where()}
       ORDER BY position LIMIT ${conditions.parameter(limit + 1)}`,
      conditions.values,
    );
    const page = keysetPage(rows, limit, (t) => String(t.position));
    return {
      items: page.items.map((t) => ({
        position: t.position,
        hash: toHex(t.hash),
        kind: t.kind,
        meterId: t.meter_id,
      })),
      next: page.next,
    };
  }

  private keepFinalBlock(key: string, block: BlockDetail): void {
    const size = Math.max(1, block.transactions.length);
    if (this.finalBlockCache.has(key) || size > FINAL_BLOCK_CACHE_TRANSACTIONS) {
      return;
    }
    this.finalBlockCache.set(key, block);
    this.cachedTransactions += size;
    for (const [oldKey, old] of this.finalBlockCache) {
      if (this.cachedTransactions <= FINAL_BLOCK_CACHE_TRANSACTIONS) {
        break;
      }
      this.finalBlockCache.delete(oldKey);
      this.cachedTransactions -= Math.max(1, old.transactions.length);
    }
  }

  private async readFinalBlock(height: bigint): Promise<BlockDetail | undefined> {
    const { rows } = await this.pool.query<{
      hash: Buffer;
      header: Buffer;
      signature: Buffer;
      finalized_at: Date;
    }>('SELECT hash, header, signature, finalized_at FROM blocks WHERE height = $1', [height.toString()]);
    const row = rows[0];
    if (!row) {
      return undefined;
    }
    const header = decodeHeader(row.header);
    const { rows: transactions } = await this.pool.query<{
      position: number;
      hash: Buffer;
      kind: string;
      meter_id: string | null;
    }>('SELECT position, hash, kind, meter_id FROM block_transactions WHERE height = $1 ORDER BY position', [
      height.toString(),
    ]);
    return {
      height: header.height.toString(),
      hash: toHex(row.hash),
      previousHash: toHex(header.previousHash),
      slot: header.slot.toString(),
      timestamp: new Date(header.timestamp),
      producer: header.producer,
      transactionsRoot: toHex(header.transactionsRoot),
      receiverIndexRoot: toHex(header.receiverIndexRoot),
      transactionCount: header.transactionCount,
      parentCertified: header.parentCertificate !== null,
      signature: toHex(row.signature),
      finalizedAt: row.finalized_at,
      transactions: transactions.map((t) => ({
        position: t.position,
        hash: toHex(t.hash),
        kind: t.kind,
        meterId: t.meter_id,
      })),
    };
  }

  /** A round's elected delegates and producers, with what became of each slot in the final chain. */
  async round(round: bigint): Promise<RoundView | undefined> {
    const schedule = this.schedules.forRound(round);
    if (!schedule) {
      return undefined;
    }
    const { rows: missed } = await this.pool.query<{ slot: string }>(
      'SELECT slot FROM missed_slots WHERE round = $1',
      [round.toString()],
    );
    const { rows: produced } = await this.pool.query<{ slot: string; height: string }>(
      'SELECT slot, height FROM blocks WHERE round = $1',
      [round.toString()],
    );
    const missedRound = round - 2n;
    const { rows: missedBefore } = await this.pool.query<{ delegate: string; slots: string[] }>(
      `SELECT delegate, array_agg(slot::text ORDER BY slot) AS slots FROM missed_slots
       WHERE round = $1 GROUP BY delegate ORDER BY delegate`,
      [missedRound.toString()],
    );
    const missedSlots = new Set(missed.map((m) => m.slot));
    const heightOfSlot = new Map(produced.map((p) => [p.slot, p.height]));
    const first = firstSlotOfRound(this.context.timing, round);
    const elected = new Set(schedule.elected);
    return {
      round: round.toString(),
      elected: schedule.elected,
      slots: schedule.slots.map((producer, i) => {
        const slot = (first + BigInt(i)).toString();
        return { slot, producer, height: heightOfSlot.get(slot) ?? null, missed: missedSlots.has(slot) };
      }),
      dropped: missedBefore
        .filter((m) => !elected.has(m.delegate))
        .map((m) => ({ delegate: m.delegate, missedRound: missedRound.toString(), missedSlots: m.slots })),
    };
  }

  /**
   * What a receiver follows: the final blocks from `fromHeight` (empty ones too, so that it can move
   * its checkpoint over them), each with the reports (base64) that hold a share for `receiverId`,
   * found through the per-receiver index (block_shares).
   */
  async receiverShares(receiverId: string, fromHeight: bigint, limit: number): Promise<ReceiverShares> {
    const { rows: blocks } = await this.pool.query<{
      height: string;
      hash: Buffer;
      previous_hash: Buffer;
      header: Buffer;
      signature: Buffer;
    }>(
      'SELECT height, hash, previous_hash, header, signature FROM blocks WHERE height >= $1 ORDER BY height LIMIT $2',
      [fromHeight.toString(), limit],
    );
    const last = blocks.at(-1)?.height ?? fromHeight.toString();
    const { rows: shares } = await this.pool.query<{ height: string; position: number; bytes: Buffer }>(
      `SELECT s.height, s.position, t.bytes FROM block_shares s
       JOIN block_transactions t ON t.height = s.height AND t.position = s.position
       WHERE s.receiver_id = $1 AND s.height BETWEEN $2 AND $3 ORDER BY s.height, s.position`,
      [receiverId, fromHeight.toString(), last],
    );
    const byHeight = new Map<string, Array<{ position: number; report: string }>>();
    for (const share of shares) {
      const list = byHeight.get(share.height) ?? [];
      list.push({ position: share.position, report: share.bytes.toString('base64') });
      byHeight.set(share.height, list);
    }
    return {
      finalHeight: this.chain.status().final.height,
      blocks: blocks.map((b) => ({
        height: b.height,
        hash: toHex(b.hash),
        previousHash: toHex(b.previous_hash),
        header: toHex(b.header),
        signature: toHex(b.signature),
        reports: byHeight.get(b.height) ?? [],
      })),
    };
  }

  /** A page of the missed slots of the final chain, in slot order, filtered by round and delegate. */
  async missedSlots(filter: MissedSlotFilter, limit: number): Promise<Page<MissedSlot>> {
    // A round's slots are consecutive: bounding the slot as well lets the primary key find them.
    const roundSlots =
      filter.round === undefined
        ? undefined
        : {
            first: firstSlotOfRound(this.context.timing, filter.round),
            last: lastSlotOfRound(this.context.timing, filter.round),
          };
    const conditions = new SqlConditions()
      .add('slot', filter.order === 'asc' ? '>' : '<', filter.cursor)
      .add('slot', '>=', roundSlots?.first)
      .add('slot', '<=', roundSlots?.last)
      .add('round', '=', filter.round)
      .add('delegate', '=', filter.delegate);
    const { rows } = await this.pool.query<MissedSlot>(
      `SELECT slot, round, delegate FROM missed_slots ${conditions.where()}
       ORDER BY slot ${filter.order === 'asc' ? 'ASC' : 'DESC'} LIMIT ${conditions.parameter(limit + 1)}`,
      conditions.values,
    );
    return keysetPage(rows, limit, (r) => r.slot);
  }

  /** A report this node holds, wherever it is: final, in a candidate block, or in the mempool. */
  async report(idHex: string): Promise<StoredReport | undefined> {
    const id = Buffer.from(idHex, 'hex');
    const { rows } = await this.pool.query<{
      height: string;
      position: number;
      bytes: Buffer;
      block_hash: Buffer;
    }>(
      `SELECT t.height, t.position, t.bytes, b.hash AS block_hash FROM block_transactions t JOIN blocks b ON b.height = t.height
       WHERE t.hash = $1 AND t.kind = 'report'`,
      [id],
    );
    const final = rows[0];
    if (final) {
      return {
        status: 'final',
        height: final.height,
        position: final.position,
        blockHash: toHex(final.block_hash),
        report: Report.decode(final.bytes).toJSON(),
      };
    }
    for (const candidate of this.chain.headPath()) {
      if (!candidate.entries.has(idHex)) {
        continue;
      }
      const entry = candidate.block.entries.find((e) => e.type === 'report' && toHex(e.report.id) === idHex);
      if (entry?.type === 'report') {
        return {
          status: 'included',
          height: candidate.block.height.toString(),
          blockHash: candidate.hashHex,
          report: entry.report.toJSON(),
        };
      }
    }
    const { rows: pending } = await this.pool.query<{ bytes: Buffer; received_at: Date }>(
      'SELECT bytes, received_at FROM mempool_reports WHERE id = $1',
      [id],
    );
    return pending[0]
      ? {
          status: 'pending',
          receivedAt: pending[0].received_at,
          report: Report.decode(pending[0].bytes).toJSON(),
        }
      : undefined;
  }

  /** This node's signed statement of its head and final height: receivers keep them as outside witnesses. */
  headDigest(): HeadDigest {
    const status = this.chain.status();
    const fields = {
      chainId: status.chainId,
      nodeId: status.nodeId,
      finalHeight: status.final.height,
      finalHash: status.final.hash,
      headHeight: status.head.height,
      headHash: status.head.hash,
      at: Date.now(),
    };
    const signature = blsSign(
      this.context.nodeKey(),
      { tag: HEAD_DIGEST_TAG, chainId: status.chainId },
      Buffer.from(canonicalJson(fields)),
    );
    return { ...fields, signature: toHex(signature) };
  }
}
