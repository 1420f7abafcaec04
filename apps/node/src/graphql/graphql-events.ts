import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { EventsHandler } from '@nestjs/cqrs';
import { PubSub } from 'graphql-subscriptions';
import type { Pool } from 'pg';

import {
  ALARM_TRANSACTION_KINDS,
  alarmsOf,
  BlockFinalizedEvent,
  ChainService,
  entryFromStored,
} from '@app/chain';
import { ResilientEventHandler } from '@app/event-store';
import { PG_POOL } from '@app/persistence';

import type { BlockEventModel } from './chain.models';

export const GRAPHQL_EVENTS = Symbol('GraphqlEvents');

export const GraphqlTopic = {
  BlockAdded: 'blockAdded',
  BlockFinalized: 'blockFinalized',
  Alarm: 'alarm',
} as const;

/** In-process: each node serves the subscriptions of its own clients. */
export const graphqlEventsProvider = { provide: GRAPHQL_EVENTS, useValue: new PubSub() };

/** New valid blocks, from the chain service, to `blockAdded` subscribers. */
@Injectable()
export class BlockAddedPublisher implements OnModuleInit, OnModuleDestroy {
  private stop: (() => void) | undefined;

  constructor(
    private readonly chain: ChainService,
    @Inject(GRAPHQL_EVENTS) private readonly events: PubSub,
  ) {}

  onModuleInit(): void {
    this.stop = this.chain.onBlockAccepted((block) => {
      const event: BlockEventModel = {
        height: block.height.toString(),
        hash: block.hashHex,
        slot: block.header.slot.toString(),
        producer: block.header.producer,
        transactionCount: block.header.transactionCount,
      };
      void this.events.publish(GraphqlTopic.BlockAdded, { [GraphqlTopic.BlockAdded]: event });
    });
  }

  onModuleDestroy(): void {
    this.stop?.();
  }
}

/** Blocks made final (a journal event, after its commit) to `blockFinalized`, and their alarms to `alarm`. */
@EventsHandler(BlockFinalizedEvent)
export class BlockFinalizedPublisher extends ResilientEventHandler<BlockFinalizedEvent> {
  constructor(
    @Inject(GRAPHQL_EVENTS) private readonly events: PubSub,
    @Inject(PG_POOL) private readonly pool: Pool,
  ) {
    super();
  }

  protected async process(event: BlockFinalizedEvent): Promise<void> {
    const block = event.payload;
    const finalized: BlockEventModel = {
      height: block.height,
      hash: block.hash,
      slot: block.slot,
      producer: block.producer,
      transactionCount: block.transactions,
    };
    await this.events.publish(GraphqlTopic.BlockFinalized, { [GraphqlTopic.BlockFinalized]: finalized });
    if (block.transactions === block.reports) {
      return; // only reports: no receiver spoke in this block
    }
    const { rows } = await this.pool.query<{ kind: string; position: number; bytes: Buffer }>(
      'SELECT kind, position, bytes FROM block_transactions WHERE height = $1 AND kind = ANY($2::text[]) ORDER BY position',
      [block.height, ALARM_TRANSACTION_KINDS],
    );
    for (const row of rows) {
      for (const alarm of alarmsOf(entryFromStored(row.kind, row.bytes), block.height, row.position)) {
        await this.events.publish(GraphqlTopic.Alarm, { [GraphqlTopic.Alarm]: alarm });
      }
    }
  }
}
