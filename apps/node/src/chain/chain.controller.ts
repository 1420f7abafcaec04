import {
  BadRequestException,
  Controller,
  Get,
  HttpCode,
  HttpStatus,
  NotFoundException,
  Param,
  Post,
  Query,
} from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiParam, ApiQuery, ApiTags } from '@nestjs/swagger';

import { Access, Public } from '@app/auth';

import { ChainContext, ChainQueries, ChainService, ChainVerifier } from '@app/chain';
import { roundOfSlot, slotAt } from '@app/ledger';

const HASH = /^[0-9a-f]{64}$/;

function nonNegative(value: string, what: string): bigint {
  if (!/^\d{1,18}$/.test(value)) {
    throw new BadRequestException(`${what} must be a non-negative integer`);
  }
  return BigInt(value);
}

function pageSize(value: string | undefined, fallback: number, max: number): number {
  if (value === undefined) {
    return fallback;
  }
  if (!/^\d{1,4}$/.test(value) || Number(value) < 1 || Number(value) > max) {
    throw new BadRequestException(`limit must be an integer from 1 to ${max}`);
  }
  return Number(value);
}

function hashParam(value: string): string {
  if (!HASH.test(value)) {
    throw new BadRequestException('a hash is 64 lower-case hex characters');
  }
  return value;
}

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
  @ApiOperation({ summary: 'Final blocks, newest first; page with ?before=<height>.' })
  @ApiQuery({ name: 'before', required: false })
  @ApiQuery({ name: 'limit', required: false, description: '1 to 100, default 20' })
  async blocks(@Query('before') before?: string, @Query('limit') limit?: string) {
    const count = pageSize(limit, 20, 100);
    const blocks = await this.queries.finalBlocks(
      before === undefined ? undefined : nonNegative(before, 'before'),
      count,
    );
    return { blocks, next: blocks.length === count ? blocks[blocks.length - 1]!.height : null };
  }

  @Get('blocks/:height')
  @ApiParam({ name: 'height' })
  @ApiOperation({ summary: 'A final block: its header fields and its transactions.' })
  async block(@Param('height') value: string) {
    const block = await this.queries.finalBlock(nonNegative(value, 'height'));
    if (!block) {
      throw new NotFoundException(`no final block at height ${value}`);
    }
    return block;
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
      round === undefined ? (slot >= 1n ? roundOfSlot(timing, slot) : 0n) : nonNegative(round, 'round');
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
      throw new BadRequestException('id is not a receiver id');
    }
    const fromHeight = from === undefined ? 1n : nonNegative(from, 'from');
    return this.queries.receiverShares(id, fromHeight < 1n ? 1n : fromHeight, pageSize(limit, 100, 500));
  }

  @Get('missed-slots')
  @ApiQuery({ name: 'limit', required: false, description: '1 to 500, default 50' })
  @ApiOperation({ summary: 'The latest missed slots of the final chain, and who missed them.' })
  missedSlots(@Query('limit') limit?: string) {
    return this.queries.missedSlots(pageSize(limit, 50, 500));
  }
}
