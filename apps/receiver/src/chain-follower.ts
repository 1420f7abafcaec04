import { Logger } from '@nestjs/common';
import type { Pool, PoolClient } from 'pg';
import { Counter, Gauge, type Registry } from 'prom-client';

import type { ReceiverShares } from '@app/chain';
import {
  type CryptoPool,
  type DecryptedShare,
  fromHex,
  type PoolReceiver,
  Report,
  type ShareOutcome,
  toHex,
} from '@app/crypto';
import { blockHash, decodeHeader } from '@app/ledger';
import { decodeDimension, type DimensionValue, ReadingCodecError } from '@app/meter-sdk';

import type { HeadWitness } from './head-witness';
import { NodeMeters } from './node-meters';

export class FollowError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'FollowError';
  }
}

export interface FollowerOptions {
  receiverId: string;
  nodeUrl: string;
  /** An Authorization header for the node (the organisation's token). */
  nodeAuthorization: () => string;
  /** The first height to take when there is no checkpoint yet (the paper's L). */
  fromHeight: bigint;
  /** Where the chain starts: the previous hash of height 1. */
  genesisHash: Uint8Array;
  batchBlocks: number;
  pollMs: number;
  /** The nodes' signed head digests: a block that contradicts one is not taken. */
  witness?: Pick<HeadWitness, 'contradicting'>;
  /** Runs in the block's transaction, after its readings: what must happen once per block (jobs). */
  afterBlock?: (client: PoolClient, height: bigint, readings: BlockReadings) => Promise<void>;
}

export interface FollowerStatus {
  receiverId: string;
  /** The last block processed, and its hash; 0 before the first. */
  height: string;
  blockHash: string | null;
  nodeFinalHeight: string | null;
  readings: number;
  tampered: number;
  lastError: string | null;
}

export interface BlockReadings {
  opened: Array<{
    position: number;
    report: Report;
    share: DecryptedShare;
    values: Record<string, DimensionValue>;
  }>;
  tampered: Array<{ position: number; report: Report; code: string; message: string }>;
}

interface Checkpoint {
  height: bigint;
  hash: Uint8Array | null;
}

interface OpenedBlock {
  height: bigint;
  hash: Uint8Array;
  /** The block's timestamp (epoch ms), from its checked header. */
  timestamp: number;
  readings: BlockReadings;
}

/** A promise awaited later: its rejection is not reported as unhandled while it waits. */
function handledLater<T>(promise: Promise<T>): Promise<T> {
  promise.catch(() => undefined);
  return promise;
}

/**
 * Follows one node's final chain for one receiver: from its checkpoint on, block by block, checks that
 * each block's hash is what its header and signature give and that it extends the block before, opens
 * this receiver's share of each report in the worker pool, and writes the readings (or the tamper
 * flags) and the new checkpoint in one transaction. A restart resumes after the last committed block:
 * nothing is skipped and nothing is written twice.
 */
export class ChainFollower {
  private readonly logger = new Logger(ChainFollower.name);
  private stopped = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private nodeFinalHeight: bigint | null = null;
  private lastError: string | null = null;
  private readonly blocksCounter: Counter;
  private readonly sharesCounter: Counter<'outcome'>;
  private readonly heightGauge: Gauge;

  constructor(
    private readonly db: Pool,
    private readonly crypto: CryptoPool,
    private readonly receiver: PoolReceiver,
    private readonly options: FollowerOptions,
    metrics: Registry,
    private readonly meters: NodeMeters = new NodeMeters(options.nodeUrl, options.nodeAuthorization),
  ) {
    this.blocksCounter = new Counter({
      name: 'cbsg_receiver_blocks_total',
      help: 'Final blocks processed',
      registers: [metrics],
    });
    this.sharesCounter = new Counter({
      name: 'cbsg_receiver_shares_total',
      help: 'Shares of this receiver opened (ok) or flagged (tampered)',
      labelNames: ['outcome'],
      registers: [metrics],
    });
    this.heightGauge = new Gauge({
      name: 'cbsg_receiver_height',
      help: 'Height of the last block processed',
      registers: [metrics],
    });
  }

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
  }

  async status(): Promise<FollowerStatus> {
    const checkpoint = await this.checkpoint(this.db);
    const { rows } = await this.db.query<{ readings: string; tampered: string }>(
      `SELECT (SELECT count(*) FROM receiver_readings WHERE receiver_id = $1) AS readings,
              (SELECT count(*) FROM receiver_tampered WHERE receiver_id = $1) AS tampered`,
      [this.options.receiverId],
    );
    return {
      receiverId: this.options.receiverId,
      height: checkpoint.height.toString(),
      blockHash: checkpoint.hash ? toHex(checkpoint.hash) : null,
      nodeFinalHeight: this.nodeFinalHeight?.toString() ?? null,
      readings: Number(rows[0]!.readings),
      tampered: Number(rows[0]!.tampered),
      lastError: this.lastError,
    };
  }

  /** One step: takes the next batch of final blocks; returns how many it processed. */
  async step(): Promise<number> {
    const checkpoint = await this.checkpoint(this.db);
    const from = checkpoint.height + 1n;
    const response = await fetch(
      `${this.options.nodeUrl}/receivers/${encodeURIComponent(this.options.receiverId)}/shares?from=${from}&limit=${this.options.batchBlocks}`,
      { headers: { authorization: this.options.nodeAuthorization() }, signal: AbortSignal.timeout(30_000) },
    );
    if (!response.ok) {
      throw new FollowError(
        'FOLLOW.NODE_ERROR',
        `the node answered ${response.status} for blocks from ${from}`,
      );
    }
    const page = (await response.json()) as ReceiverShares;
    this.nodeFinalHeight = BigInt(page.finalHeight);
    // Block i+1 is checked and its shares opened in the worker pool while block i is written: the
    // pairings and the database overlap. Writes stay in height order, one transaction per block.
    const opening = (index: number, after: Checkpoint): Promise<OpenedBlock> =>
      handledLater(this.open(page.blocks[index]!, after));
    let previous = checkpoint;
    let next = page.blocks.length > 0 ? opening(0, checkpoint) : undefined;
    for (let index = 0; next; index += 1) {
      const current = await next;
      next = index + 1 < page.blocks.length ? opening(index + 1, current) : undefined;
      const written = await this.commit(current, previous);
      if (written.height !== current.height) {
        // Another follower of this receiver wrote the block first: start again from its checkpoint.
        return index;
      }
      previous = written;
    }
    return page.blocks.length;
  }

  private async run(): Promise<void> {
    let delay = this.options.pollMs;
    while (!this.stopped) {
      let processed = 0;
      try {
        processed = await this.step();
        this.lastError = null;
        delay = this.options.pollMs;
      } catch (error) {
        const message = (error as Error).message;
        if (message !== this.lastError) {
          this.logger.error(`following ${this.options.nodeUrl} failed: ${message}`);
        }
        this.lastError = message;
        if (error instanceof FollowError && error.code === 'FOLLOW.CHAIN_MISMATCH') {
          // A node that serves another history than the one already processed: stop, loudly.
          this.logger.fatal(`stopped following: ${message}`);
          return;
        }
        delay = Math.min(delay * 2, 30_000);
      }
      if (processed === 0 && !this.stopped) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    }
  }

  /** Checks that the block extends `previous` and opens this receiver's shares of its reports. */
  private async open(block: ReceiverShares['blocks'][number], previous: Checkpoint): Promise<OpenedBlock> {
    const height = BigInt(block.height);
    const expectedHeight = previous.height + 1n;
    if (height !== expectedHeight) {
      throw new FollowError('FOLLOW.GAP', `the node sent height ${height} where ${expectedHeight} was due`);
    }
    const headerBytes = fromHex(block.header, 'header');
    const hash = blockHash(headerBytes, fromHex(block.signature, 'signature'));
    const header = decodeHeader(headerBytes);
    if (toHex(hash) !== block.hash || header.height !== height) {
      throw new FollowError(
        'FOLLOW.BAD_BLOCK',
        `block ${height}'s hash does not match its header and signature`,
      );
    }
    const expectedPrevious = previous.hash ?? (height === 1n ? this.options.genesisHash : null);
    if (expectedPrevious && !Buffer.from(header.previousHash).equals(Buffer.from(expectedPrevious))) {
      throw new FollowError(
        'FOLLOW.CHAIN_MISMATCH',
        `block ${height} does not extend block ${previous.height} as processed here (${toHex(expectedPrevious).slice(0, 16)}…)`,
      );
    }
    const reports = block.reports.map((r) => ({
      position: r.position,
      report: Report.decode(Buffer.from(r.report, 'base64')),
    }));
    const outcomes =
      reports.length > 0
        ? await this.crypto.openShares(
            this.receiver,
            reports.map((r) => r.report),
          )
        : [];
    return {
      height,
      hash,
      timestamp: header.timestamp,
      readings: await this.readings(height, reports, outcomes),
    };
  }

  /**
   * Writes the block's readings, its after-block work and the checkpoint in one transaction. Returns
   * the checkpoint now stored: the block's, or another follower's when that one wrote it first.
   */
  private async commit(
    { height, hash, timestamp, readings }: OpenedBlock,
    previous: Checkpoint,
  ): Promise<Checkpoint> {
    const client = await this.db.connect();
    try {
      await client.query('BEGIN');
      // The checkpoint row is locked first: a second follower of the same receiver waits, then sees
      // that the block is done (and stops at the height check above on its next step).
      const current = await this.checkpoint(client, true);
      if (current.height !== previous.height) {
        await client.query('ROLLBACK');
        return current;
      }
      const contradicted = (await this.options.witness?.contradicting(client, height, hash)) ?? [];
      if (contradicted.length > 0) {
        const { nodeId, finalHash } = contradicted[0]!;
        throw new FollowError(
          'FOLLOW.CHAIN_MISMATCH',
          `block ${height} (${toHex(hash).slice(0, 16)}…) is not the block ${nodeId} signed as final at that height (${finalHash.slice(0, 16)}…)`,
        );
      }
      await this.write(client, height, readings);
      await this.options.afterBlock?.(client, height, readings);
      await client.query(
        'INSERT INTO receiver_blocks (receiver_id, height, block_hash, processed_at) VALUES ($1, $2, $3, now())',
        [this.options.receiverId, height.toString(), Buffer.from(hash)],
      );
      // The block's time is the chain's time as this receiver knows it: SentTransactions reads it.
      await client.query(
        `INSERT INTO receiver_checkpoints (receiver_id, height, block_hash, block_time, updated_at) VALUES ($1, $2, $3, $4, now())
         ON CONFLICT (receiver_id) DO UPDATE SET height = EXCLUDED.height, block_hash = EXCLUDED.block_hash,
           block_time = EXCLUDED.block_time, updated_at = now()`,
        [this.options.receiverId, height.toString(), Buffer.from(hash), new Date(timestamp)],
      );
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
    this.blocksCounter.inc();
    this.heightGauge.set(Number(height));
    return { height, hash };
  }

  /** The opened shares as named values (the meter's dimension names), and the shares that failed. */
  private async readings(
    height: bigint,
    reports: Array<{ position: number; report: Report }>,
    outcomes: ShareOutcome[],
  ): Promise<BlockReadings> {
    const opened: BlockReadings['opened'] = [];
    const tampered: BlockReadings['tampered'] = [];
    for (const [i, outcome] of outcomes.entries()) {
      const { position, report } = reports[i]!;
      let failure: { code: string; message: string } | undefined;
      if (outcome.ok) {
        try {
          const names = await this.dimensionNames(report.meterId);
          const values = Object.fromEntries(
            outcome.share.dimensions.map((d) => [names[d.index] ?? `#${d.index}`, decodeDimension(d.value)]),
          );
          opened.push({ position, report, share: outcome.share, values });
        } catch (error) {
          if (!(error instanceof ReadingCodecError)) {
            throw error;
          }
          failure = { code: error.code, message: error.message };
        }
      } else {
        failure = { code: outcome.error.code, message: outcome.error.message };
      }
      if (failure) {
        tampered.push({ position, report, ...failure });
        this.logger.warn(
          `report ${report.idHex.slice(0, 16)}… of ${report.meterId} at height ${height}: ${failure.code}; the meter is asked to upload it again`,
        );
      }
    }
    return { opened, tampered };
  }

  /** A meter's dimension names, as registered (they never change for a meter). */
  private async dimensionNames(meterId: string): Promise<readonly string[]> {
    const meter = await this.meters.get(meterId);
    if (!meter) {
      throw new FollowError('FOLLOW.NODE_ERROR', `the node has no meter ${meterId}`);
    }
    return meter.dimensions;
  }

  private async write(
    client: PoolClient,
    height: bigint,
    { opened, tampered }: BlockReadings,
  ): Promise<void> {
    if (opened.length > 0) {
      await client.query(
        `INSERT INTO receiver_readings (receiver_id, report_id, meter_id, nonce, read_at, height, position, dimensions)
         SELECT $1, * FROM unnest($2::bytea[], $3::text[], $4::numeric[], $5::timestamptz[], $6::bigint[], $7::int[], $8::jsonb[])
         ON CONFLICT DO NOTHING`,
        [
          this.options.receiverId,
          opened.map((o) => Buffer.from(o.report.id)),
          opened.map((o) => o.share.meterId),
          opened.map((o) => o.share.nonce.toString()),
          opened.map((o) => new Date(o.share.timestamp)),
          opened.map(() => height.toString()),
          opened.map((o) => o.position),
          opened.map((o) => JSON.stringify(o.values)),
        ],
      );
      this.sharesCounter.inc({ outcome: 'ok' }, opened.length);
    }
    if (tampered.length > 0) {
      await client.query(
        `INSERT INTO receiver_tampered (receiver_id, report_id, meter_id, nonce, height, position, code, message, flagged_at)
         SELECT $1, r.*, now() FROM unnest($2::bytea[], $3::text[], $4::numeric[], $5::bigint[], $6::int[], $7::text[], $8::text[]) AS r
         ON CONFLICT DO NOTHING`,
        [
          this.options.receiverId,
          tampered.map((t) => Buffer.from(t.report.id)),
          tampered.map((t) => t.report.meterId),
          tampered.map((t) => t.report.nonce.toString()),
          tampered.map(() => height.toString()),
          tampered.map((t) => t.position),
          tampered.map((t) => t.code),
          tampered.map((t) => t.message),
        ],
      );
      this.sharesCounter.inc({ outcome: 'tampered' }, tampered.length);
    }
  }

  private async checkpoint(sql: Pool | PoolClient, lock = false): Promise<Checkpoint> {
    const { rows } = await sql.query<{ height: string; block_hash: Buffer }>(
      `SELECT height, block_hash FROM receiver_checkpoints WHERE receiver_id = $1${lock ? ' FOR UPDATE' : ''}`,
      [this.options.receiverId],
    );
    const row = rows[0];
    return row
      ? { height: BigInt(row.height), hash: row.block_hash }
      : { height: this.options.fromHeight - 1n, hash: null };
  }
}
