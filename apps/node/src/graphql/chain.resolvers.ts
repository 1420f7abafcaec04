import { Inject } from '@nestjs/common';
import { Args, Context, Int, Parent, Query, ResolveField, Resolver, Subscription } from '@nestjs/graphql';
import { GraphQLError } from 'graphql';
import type { PubSub } from 'graphql-subscriptions';
import type { Pool } from 'pg';

import { Access } from '@app/auth';
import { ChainService } from '@app/chain';
import { isHashHex, tallyVotes } from '@app/ledger';
import { PG_POOL } from '@app/persistence';

import { BLOCK_COLUMNS, blockOf, type ChainLoaders } from './chain.loaders';
import {
  AlarmModel,
  BlockEventModel,
  BlockModel,
  BlockPage,
  ChainStatusModel,
  DelegateModel,
  MissedSlotModel,
  TransactionModel,
} from './chain.models';
import { GRAPHQL_EVENTS, GraphqlTopic } from './graphql-events';

/** A bad argument: GraphQL's BAD_USER_INPUT, naming the argument, like the REST API's 400s. */
function badArgument(name: string, rule: string): GraphQLError {
  return new GraphQLError(`${name} ${rule}`, { extensions: { code: 'BAD_USER_INPUT', argument: name } });
}

function bounded(value: number, name: string, max: number): number {
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw badArgument(name, `must be an integer from 1 to ${max}`);
  }
  return value;
}

function height(value: string, name: string): string {
  if (!/^\d{1,18}$/.test(value)) {
    throw badArgument(name, 'must be a height (a non-negative integer, as a string)');
  }
  return value;
}

/** A registry identifier (a delegate's, here), checked before it reaches SQL, as the REST API's are. */
function identifier(value: string, name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/.test(value)) {
    throw badArgument(name, 'must be an identifier (letters, digits and . _ : / -, at most 128)');
  }
  return value;
}

/** List fields cost their children times the items they ask for (the complexity limit). */
const perItem =
  (fallback: number) =>
  ({ args, childComplexity }: { args: { first?: number }; childComplexity: number }) =>
    1 + childComplexity * (args.first ?? fallback);

@Resolver(() => BlockModel)
@Access('organisation', 'admin')
export class BlockResolver {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  @Query(() => BlockPage, { description: 'Final blocks, newest first.', complexity: perItem(20) })
  async blocks(
    @Args('first', { type: () => Int, defaultValue: 20, description: '1 to 100' }) first: number,
    @Args('before', { type: () => String, nullable: true, description: 'a height: blocks below it' })
    before: string | null | undefined,
    @Args('producer', { type: () => String, nullable: true }) producer: string | null | undefined,
    @Context('loaders') loaders: ChainLoaders,
  ): Promise<BlockPage> {
    const limit = bounded(first, 'first', 100);
    const { rows } = await this.pool.query<Parameters<typeof blockOf>[0]>(
      `/* graphql */ SELECT ${BLOCK_COLUMNS} FROM blocks
       WHERE ($1::bigint IS NULL OR height < $1) AND ($2::text IS NULL OR producer = $2)
       ORDER BY height DESC LIMIT $3`,
      [
        typeof before === 'string' ? height(before, 'before') : null,
        typeof producer === 'string' ? identifier(producer, 'producer') : null,
        limit + 1,
      ],
    );
    const nodes = rows.slice(0, limit).map(blockOf);
    // Their transactions' `block` fields then need no second read.
    nodes.forEach((node) => loaders.blocks.prime(node.height, node));
    return { nodes, hasMore: rows.length > limit, endCursor: nodes.at(-1)?.height ?? null };
  }

  @Query(() => BlockModel, { nullable: true, description: 'A final block by height.' })
  block(
    @Args('height') at: string,
    @Context('loaders') loaders: ChainLoaders,
  ): Promise<BlockModel | undefined> {
    return loaders.blocks.load(height(at, 'height'));
  }

  @ResolveField(() => [TransactionModel], { complexity: perItem(100) })
  transactions(
    @Parent() block: BlockModel,
    @Args('first', { type: () => Int, defaultValue: 100, description: '1 to 1000' }) first: number,
    @Context('loaders') loaders: ChainLoaders,
  ): Promise<TransactionModel[]> {
    return loaders.transactions(bounded(first, 'first', 1_000)).load(block.height);
  }
}

@Resolver(() => TransactionModel)
@Access('organisation', 'admin')
export class TransactionResolver {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  @Query(() => TransactionModel, { nullable: true, description: 'An entry of the final chain by hash.' })
  async transaction(@Args('hash') hash: string): Promise<TransactionModel | undefined> {
    if (!isHashHex(hash)) {
      throw badArgument('hash', 'must be 64 lower-case hex characters');
    }
    const { rows } = await this.pool.query<{
      height: string;
      position: number;
      kind: string;
      meter_id: string | null;
      receivers: string[] | null;
    }>(
      '/* graphql */ SELECT height, position, kind, meter_id, receivers FROM block_transactions WHERE hash = $1',
      [Buffer.from(hash, 'hex')],
    );
    const row = rows[0];
    return row
      ? {
          hash,
          kind: row.kind,
          height: row.height,
          position: row.position,
          meterId: row.meter_id,
          receivers: row.receivers ?? [],
        }
      : undefined;
  }

  @ResolveField(() => BlockModel)
  async block(
    @Parent() tx: TransactionModel,
    @Context('loaders') loaders: ChainLoaders,
  ): Promise<BlockModel> {
    return (await loaders.blocks.load(tx.height))!;
  }
}

@Resolver()
@Access('organisation', 'admin')
export class ChainResolver {
  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    private readonly chain: ChainService,
    @Inject(GRAPHQL_EVENTS) private readonly events: PubSub,
  ) {}

  @Query(() => ChainStatusModel, {
    description: 'Head and final (irreversible) height, current slot and round.',
  })
  chainStatus(): ChainStatusModel {
    const status = this.chain.status();
    return {
      chainId: status.chainId,
      nodeId: status.nodeId,
      headHeight: status.head.height,
      finalHeight: status.final.height,
      currentSlot: status.currentSlot,
      currentRound: status.currentRound,
    };
  }

  @Query(() => [DelegateModel], { description: 'Delegates with the stake that approves each, most first.' })
  async delegates(): Promise<DelegateModel[]> {
    const { rows: delegates } = await this.pool.query<{ id: string; organisation: string; status: string }>(
      '/* graphql */ SELECT id, organisation, status FROM registry_delegates',
    );
    const { rows: ballots } = await this.pool.query<{ stake: string; approves: string[] }>(
      '/* graphql */ SELECT o.stake, b.approves FROM registry_ballots b JOIN registry_organisations o ON o.id = b.organisation',
    );
    const votes = new Map(
      tallyVotes(
        delegates.map((d) => ({ id: d.id, active: d.status === 'active' })),
        ballots.map((b) => ({ stake: BigInt(b.stake), approves: b.approves })),
      ).map((s) => [s.id, s.votes]),
    );
    return delegates
      .map((d) => ({ ...d, votes: (votes.get(d.id) ?? 0n).toString() }))
      .sort((a, b) => Number(BigInt(b.votes) - BigInt(a.votes)) || a.id.localeCompare(b.id));
  }

  @Query(() => [MissedSlotModel], { description: 'Slots without a block in the final chain, newest first.' })
  async missedSlots(
    @Args('first', { type: () => Int, defaultValue: 50, description: '1 to 1000' }) first: number,
    @Args('round', { type: () => String, nullable: true }) round: string | null | undefined,
  ): Promise<MissedSlotModel[]> {
    const { rows } = await this.pool.query<MissedSlotModel>(
      `/* graphql */ SELECT slot, round, delegate FROM missed_slots WHERE ($1::bigint IS NULL OR round = $1)
       ORDER BY slot DESC LIMIT $2`,
      [typeof round === 'string' ? height(round, 'round') : null, bounded(first, 'first', 1_000)],
    );
    return rows;
  }

  @Subscription(() => BlockEventModel, { description: 'Each new valid block, before it is final.' })
  blockAdded(): AsyncIterator<unknown> {
    return this.events.asyncIterableIterator(GraphqlTopic.BlockAdded);
  }

  @Subscription(() => BlockEventModel, { description: 'Each block as it becomes final (irreversible).' })
  blockFinalized(): AsyncIterator<unknown> {
    return this.events.asyncIterableIterator(GraphqlTopic.BlockFinalized);
  }

  @Subscription(() => AlarmModel, { description: 'Alarms in blocks as they become final.' })
  alarm(): AsyncIterator<unknown> {
    return this.events.asyncIterableIterator(GraphqlTopic.Alarm);
  }
}
