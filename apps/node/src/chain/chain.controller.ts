import { Controller, Get, HttpCode, HttpStatus, NotFoundException, Param, Post, Query } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBearerAuth,
  ApiOkResponse,
  ApiOperation,
  ApiParam,
  ApiQuery,
  ApiTags,
} from '@nestjs/swagger';

import { Access, Public } from '@app/auth';

import { ChainContext, ChainQueries, ChainService, ChainVerifier } from '@app/chain';
import { isHashHex, roundOfSlot, slotAt, TX_KINDS } from '@app/ledger';

import {
  choiceParameter,
  countParameter,
  idParameter,
  InvalidParameterError,
  limitParameter,
  orderParameter,
  requiredCountParameter,
  smallCountParameter,
} from '../http/query-parameters';

function hashParam(value: string): string {
  if (!isHashHex(value)) {
    throw new InvalidParameterError('hash', '64 lower-case hex characters');
  }
  return value;
}

/** What every list says about its cursor in the OpenAPI document. */
const CURSOR_DESCRIPTION =
  "the previous page's `next`, with the same order and filters; absent for the first page";

/** The JSON schema of a page of `items` under `key`, with its cursor. */
function pageSchema(key: string, item: object, cursor: string) {
  return {
    type: 'object',
    required: [key, 'next'],
    properties: {
      [key]: { type: 'array', items: item },
      next: {
        type: 'string',
        nullable: true,
        description: `${cursor} of the last item: pass it as \`cursor\` for the next page; null when nothing follows`,
      },
    },
  };
}

function withProperties(schema: ReturnType<typeof pageSchema>, properties: Record<string, object>) {
  return { ...schema, properties: { ...properties, ...schema.properties } };
}

const BLOCK_SUMMARY_SCHEMA = {
  type: 'object',
  properties: {
    height: { type: 'string' },
    hash: { type: 'string' },
    slot: { type: 'string' },
    round: { type: 'string' },
    producer: { type: 'string' },
    timestamp: { type: 'string', format: 'date-time' },
    transactionCount: { type: 'integer' },
    finalizedAt: { type: 'string', format: 'date-time' },
  },
};

const BLOCK_TRANSACTION_SCHEMA = {
  type: 'object',
  properties: {
    position: { type: 'integer' },
    hash: { type: 'string' },
    kind: { type: 'string', description: '"report" or a transaction kind' },
    meterId: { type: 'string', nullable: true },
  },
};

const MISSED_SLOT_SCHEMA = {
  type: 'object',
  properties: { slot: { type: 'string' }, round: { type: 'string' }, delegate: { type: 'string' } },
};

@ApiTags('chain')
@ApiBearerAuth()
@Access('organisation', 'admin')
@Controller()
export class ChainController {
  constructor(
    private readonly chain: ChainService,
    private readonly queries: ChainQueries,
    private readonly verifier: ChainVerifier,
    private readonly context: ChainContext,
  ) {}

  @Get('chain/status')
  @Public()
  @ApiOperation({ summary: 'Head, final (irreversible) block, current slot and round.' })
  status() {
    return this.chain.status();
  }

  @Get('chain/digest')
  @ApiOperation({
    summary: "This node's signed digest of its head and final height (receivers keep them as witnesses).",
  })
  digest() {
    return this.queries.headDigest();
  }

  @Post('chain/verify')
  @Access('admin')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary:
      'verify-chain: recompute every hash, root and signature from genesis; names the first bad block.',
  })
  verify() {
    return this.verifier.verify();
  }

  @Get('blocks')
  @ApiOperation({
    summary:
      'Final blocks, a page at a time (keyset on height: stable while blocks are added), filtered by height range and producer.',
  })
  @ApiQuery({
    name: 'order',
    required: false,
    enum: ['desc', 'asc'],
    description: 'newest first (default) or oldest first',
  })
  @ApiQuery({ name: 'cursor', required: false, description: CURSOR_DESCRIPTION })
  @ApiQuery({
    name: 'limit',
    required: false,
    schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 },
  })
  @ApiQuery({ name: 'fromHeight', required: false, description: 'lowest height, inclusive' })
  @ApiQuery({ name: 'toHeight', required: false, description: 'highest height, inclusive' })
  @ApiQuery({ name: 'producer', required: false, description: 'delegate id of the producer' })
  @ApiQuery({
    name: 'before',
    required: false,
    deprecated: true,
    description: 'blocks below this height; kept for existing clients, use cursor',
  })
  @ApiOkResponse({ schema: pageSchema('blocks', BLOCK_SUMMARY_SCHEMA, 'the height') })
  @ApiBadRequestResponse({ description: 'REQUEST.INVALID_PARAMETER, naming the parameter' })
  async blocks(@Query() query: Record<string, unknown>) {
    const order = orderParameter(query.order, 'desc');
    const before = countParameter(query.before, 'before');
    const fromHeight = countParameter(query.fromHeight, 'fromHeight');
    let toHeight = countParameter(query.toHeight, 'toHeight');
    if (before !== undefined) {
      toHeight = before === 0n ? -1n : bigintMin(before - 1n, toHeight);
    }
    const page = await this.queries.finalBlocks(
      {
        order,
        cursor: countParameter(query.cursor, 'cursor'),
        fromHeight,
        toHeight,
        producer: idParameter(query.producer, 'producer'),
      },
      limitParameter(query.limit, 20, 100),
    );
    return { blocks: page.items, next: page.next };
  }

  @Get('blocks/:height')
  @ApiParam({ name: 'height' })
  @ApiOperation({
    summary:
      'A final block: its header fields and all its transactions (at most MAX_BLOCK_TRANSACTIONS; /blocks/:height/transactions pages and filters them).',
  })
  async block(@Param('height') value: string) {
    const block = await this.queries.finalBlock(requiredCountParameter(value, 'height'));
    if (!block) {
      throw new NotFoundException(`no final block at height ${value}`);
    }
    return block;
  }

  @Get('blocks/:height/transactions')
  @ApiParam({ name: 'height' })
  @ApiOperation({
    summary:
      "A final block's transactions in block order, a page at a time (keyset on position), filtered by kind and meter.",
  })
  @ApiQuery({ name: 'cursor', required: false, description: CURSOR_DESCRIPTION })
  @ApiQuery({
    name: 'limit',
    required: false,
    schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
  })
  @ApiQuery({ name: 'kind', required: false, enum: ['report', ...TX_KINDS] })
  @ApiQuery({ name: 'meterId', required: false, description: "a meter's reports only" })
  @ApiOkResponse({
    schema: withProperties(pageSchema('transactions', BLOCK_TRANSACTION_SCHEMA, 'the position'), {
      height: { type: 'string' },
    }),
  })
  @ApiBadRequestResponse({ description: 'REQUEST.INVALID_PARAMETER, naming the parameter' })
  async blockTransactions(@Param('height') value: string, @Query() query: Record<string, unknown>) {
    const height = requiredCountParameter(value, 'height');
    const page = await this.queries.blockTransactions(
      height,
      {
        cursor: smallCountParameter(query.cursor, 'cursor'),
        kind: choiceParameter(query.kind, 'kind', ['report', ...TX_KINDS]),
        meterId: idParameter(query.meterId, 'meterId'),
      },
      limitParameter(query.limit, 100, 1_000),
    );
    if (!page) {
      throw new NotFoundException(`no final block at height ${value}`);
    }
    return { height: height.toString(), transactions: page.items, next: page.next };
  }

  @Get('transactions/:hash')
  @ApiParam({ name: 'hash', description: 'transaction hash or report id (hex)' })
  @ApiOperation({
    summary:
      'Where a transaction or report is: pending (mempool), included (a block not final yet), final, or unknown.',
  })
  transaction(@Param('hash') hash: string) {
    return this.queries.transactionStatus(hashParam(hash));
  }

  @Get('tx/:hash/proof')
  @ApiParam({ name: 'hash', description: 'transaction hash or report id (hex)' })
  @ApiOperation({
    summary:
      'Merkle inclusion proof of a final transaction with its block header (check offline: cbsg verify-proof).',
  })
  async proof(@Param('hash') hash: string) {
    const proof = await this.queries.proof(hashParam(hash));
    if (!proof) {
      throw new NotFoundException(`${hash} is not in a final block`);
    }
    return proof;
  }

  @Get('schedule')
  @ApiQuery({ name: 'round', required: false, description: 'default: the current round' })
  @ApiOperation({
    summary: "A round's elected delegates and slot producers, with the slots produced and missed so far.",
  })
  async schedule(@Query('round') round?: string) {
    const timing = this.context.timing;
    const slot = slotAt(timing, Date.now());
    const wanted =
      round === undefined
        ? slot >= 1n
          ? roundOfSlot(timing, slot)
          : 0n
        : requiredCountParameter(round, 'round');
    const view = await this.queries.round(wanted);
    if (!view) {
      throw new NotFoundException(`round ${wanted} is not elected yet`);
    }
    return view;
  }

  @Get('receivers/:id/shares')
  @ApiQuery({ name: 'from', required: false, description: 'first height, default 1' })
  @ApiQuery({ name: 'limit', required: false, description: '1 to 500 blocks, default 100' })
  @ApiOperation({
    summary:
      "Final blocks from a height on, each with the reports (base64) that hold a share for this receiver: what a receiver follows. Only the receiver's own key opens them.",
  })
  receiverShares(@Param('id') id: string, @Query('from') from?: string, @Query('limit') limit?: string) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/.test(id)) {
      throw new InvalidParameterError('id', 'a receiver id');
    }
    const fromHeight = countParameter(from, 'from') ?? 1n;
    return this.queries.receiverShares(
      id,
      fromHeight < 1n ? 1n : fromHeight,
      limitParameter(limit, 100, 500),
    );
  }

  @Get('missed-slots')
  @ApiOperation({
    summary:
      'Missed slots of the final chain and who missed them, a page at a time (keyset on slot), filtered by round and delegate.',
  })
  @ApiQuery({
    name: 'order',
    required: false,
    enum: ['desc', 'asc'],
    description: 'latest first (default) or oldest first',
  })
  @ApiQuery({ name: 'cursor', required: false, description: CURSOR_DESCRIPTION })
  @ApiQuery({
    name: 'limit',
    required: false,
    schema: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
  })
  @ApiQuery({ name: 'round', required: false })
  @ApiQuery({ name: 'delegate', required: false, description: 'delegate id' })
  @ApiOkResponse({ schema: pageSchema('missedSlots', MISSED_SLOT_SCHEMA, 'the slot') })
  @ApiBadRequestResponse({ description: 'REQUEST.INVALID_PARAMETER, naming the parameter' })
  async missedSlots(@Query() query: Record<string, unknown>) {
    const page = await this.queries.missedSlots(
      {
        order: orderParameter(query.order, 'desc'),
        cursor: countParameter(query.cursor, 'cursor'),
        round: countParameter(query.round, 'round'),
        delegate: idParameter(query.delegate, 'delegate'),
      },
      limitParameter(query.limit, 50, 500),
    );
    return { missedSlots: page.items, next: page.next };
  }
}

function bigintMin(a: bigint, b: bigint | undefined): bigint {
  return b === undefined || a < b ? a : b;
}
