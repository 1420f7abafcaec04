import DataLoader from 'dataloader';
import type { Pool } from 'pg';

import { toHex } from '@app/crypto';

import type { BlockModel, TransactionModel } from './chain.models';

interface BlockRow {
  height: string;
  hash: Buffer;
  previous_hash: Buffer;
  slot: string;
  round: string;
  producer: string;
  timestamp: Date;
  transaction_count: number;
  finalized_at: Date;
}

export const BLOCK_COLUMNS =
  'height, hash, previous_hash, slot, round, producer, timestamp, transaction_count, finalized_at';

export function blockOf(row: BlockRow): BlockModel {
  return {
    height: row.height,
    hash: toHex(row.hash),
    previousHash: toHex(row.previous_hash),
    slot: row.slot,
    round: row.round,
    producer: row.producer,
    timestamp: row.timestamp,
    transactionCount: row.transaction_count,
    finalizedAt: row.finalized_at,
  };
}

/**
 * Every query of the GraphQL layer starts with this comment: it shows in Postgres' logs and
 * pg_stat_activity, and lets a test count what one GraphQL request costs.
 */
export const GRAPHQL_SQL_MARK = '/* graphql */';

/**
 * Batched reads for one GraphQL request: every block (by height) and every block's first n
 * transactions that a query's resolvers ask for in one tick become one SQL query each, so a
 * query over 100 blocks and their transactions costs a handful of queries, not hundreds.
 */
export class ChainLoaders {
  readonly blocks: DataLoader<string, BlockModel | undefined>;
  private readonly transactionLoaders = new Map<number, DataLoader<string, TransactionModel[]>>();

  constructor(private readonly pool: Pool) {
    this.blocks = new DataLoader(async (heights) => {
      const { rows } = await pool.query<BlockRow>(
        `/* graphql */ SELECT ${BLOCK_COLUMNS} FROM blocks WHERE height = ANY($1::bigint[])`,
        [heights],
      );
      const byHeight = new Map(rows.map((r) => [r.height, blockOf(r)]));
      return heights.map((h) => byHeight.get(h));
    });
  }

  /** The first `first` transactions of blocks, by height. */
  transactions(first: number): DataLoader<string, TransactionModel[]> {
    let loader = this.transactionLoaders.get(first);
    if (!loader) {
      loader = new DataLoader(async (heights) => {
        const { rows } = await this.pool.query<{
          height: string;
          position: number;
          hash: Buffer;
          kind: string;
          meter_id: string | null;
          receivers: string[] | null;
        }>(
          `/* graphql */ SELECT height, position, hash, kind, meter_id, receivers FROM block_transactions
           WHERE height = ANY($1::bigint[]) AND position < $2 ORDER BY height, position`,
          [heights, first],
        );
        const byHeight = new Map<string, TransactionModel[]>();
        for (const r of rows) {
          const list = byHeight.get(r.height) ?? [];
          list.push({
            hash: toHex(r.hash),
            kind: r.kind,
            height: r.height,
            position: r.position,
            meterId: r.meter_id,
            receivers: r.receivers ?? [],
          });
          byHeight.set(r.height, list);
        }
        return heights.map((h) => byHeight.get(h) ?? []);
      });
      this.transactionLoaders.set(first, loader);
    }
    return loader;
  }
}
