import {
  BadRequestException,
  Body,
  Controller,
  Get,
  HttpCode,
  HttpStatus,
  NotFoundException,
  Param,
  Post,
  Query,
} from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';

import {
  blockToWire,
  type CandidateRef,
  CATCH_UP_PAGE_TRANSACTIONS,
  ChainContext,
  ChainRepository,
  ChainService,
  type ChainStatus,
  MESSAGE_TYPES,
  type MessageType,
  type NodeMessage,
  openMessage,
  voteFromWire,
  type WireBlock,
  type WireVote,
} from '@app/chain';
import { SkipThrottle } from '@nestjs/throttler';
import { Counter, Histogram, Registry } from 'prom-client';

import { Access, Public } from '@app/auth';
import { fromBase64 } from '@app/crypto';
import { ReportIntakeService } from '@app/intake';
import { isHashHex, Transaction } from '@app/ledger';
import { PG_POOL } from '@app/persistence';

import {
  boundedParameter,
  countParameter,
  InvalidParameterError,
  limitParameter,
} from '../http/query-parameters';
import { Inject } from '@nestjs/common';
import type { Pool } from 'pg';

/** The code a message was refused with (P2P.BAD_MAC, BLOCK.UNKNOWN_PARENT...), for the metric. */
function refusalCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Z0-9_]+\.[A-Z0-9_.]+$/.test(code) ? code : 'refused';
}

/**
 * Node-to-node endpoints. Pushes (POST /p2p/messages) must be MACed by a genesis node; pulls (blocks,
 * candidates, status) need no signature, since what they return checks itself (signed blocks,
 * quorum certificates).
 */
// Peers only (each GET carries the calling node's token), and admins; no rate limit between peers.
@ApiExcludeController()
@Access('node', 'admin')
@SkipThrottle()
@Controller('p2p')
export class P2pController {
  private readonly repository: ChainRepository;
  private readonly messages: Counter<'type' | 'outcome'>;
  private readonly envelopeSeconds: Histogram<'type'>;

  constructor(
    @Inject(PG_POOL) pool: Pool,
    private readonly chain: ChainService,
    private readonly context: ChainContext,
    private readonly intake: ReportIntakeService,
    metrics: Registry,
  ) {
    this.repository = new ChainRepository(pool);
    this.messages = new Counter({
      name: 'cbsg_p2p_messages_total',
      help: "Peers' messages by type and outcome: accepted, or the code they were refused with",
      labelNames: ['type', 'outcome'],
      registers: [metrics],
    });
    // What authenticating peers costs (parse, canonical JSON, MAC) against the wall clock.
    this.envelopeSeconds = new Histogram({
      name: 'cbsg_p2p_envelope_seconds',
      help: "Time to open a peer's message: its shape, its digest and the sending node's MAC",
      labelNames: ['type'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
      registers: [metrics],
    });
  }

  @Post('messages')
  @Public() // each message is MACed by its sending node for this one and checked here
  @HttpCode(HttpStatus.ACCEPTED)
  async message(@Body() body: unknown): Promise<{ accepted: true }> {
    const claimed = (body as { type?: unknown } | null)?.type;
    const type = MESSAGE_TYPES.includes(claimed as MessageType) ? (claimed as MessageType) : 'unknown';
    try {
      await this.handle(this.open(body, type));
    } catch (error) {
      this.messages.inc({ type, outcome: refusalCode(error) });
      throw error;
    }
    this.messages.inc({ type, outcome: 'accepted' });
    return { accepted: true };
  }

  /** Checks the envelope (shape, sender, clock, MAC), timed for cbsg_p2p_envelope_seconds. */
  private open(body: unknown, type: MessageType | 'unknown'): NodeMessage {
    const stopTimer = this.envelopeSeconds.startTimer({ type });
    try {
      return openMessage(body, (id) => this.context.linkKey(id));
    } finally {
      stopTimer();
    }
  }

  private async handle(message: NodeMessage): Promise<void> {
    const payload = message.payload;
    switch (message.type) {
      case 'transactions': {
        const list = arrayOf(payload.transactions, 'transactions');
        for (const item of list) {
          await this.chain.submitTransaction(Transaction.fromJSON(item), true).catch(() => undefined);
        }
        break;
      }
      case 'reports': {
        const list = arrayOf(payload.reports, 'reports').map((r) => fromBase64(String(r), 'report'));
        await this.intake.submitFromPeer(list).catch(() => undefined);
        break;
      }
      case 'block':
        await this.chain.receiveWireBlock(
          wireOf<WireBlock>(payload.block, WIRE_BLOCK_FIELDS, 'block'),
          message.from,
        );
        break;
      case 'votes':
        await this.chain.receiveVotes(
          arrayOf(payload.votes, 'votes').map((v) =>
            voteFromWire(wireOf<WireVote>(v, WIRE_VOTE_FIELDS, 'vote')),
          ),
        );
        break;
    }
  }

  @Get('status')
  status(): ChainStatus {
    return this.chain.status();
  }

  /**
   * Final blocks from a height on: at most `limit` blocks, and past the first one at most
   * `transactions` transactions (a catching-up node asks for less when a page took too long).
   */
  @Get('blocks')
  async blocks(
    @Query('from') from?: unknown,
    @Query('limit') limit?: unknown,
    @Query('transactions') transactions?: unknown,
  ): Promise<WireBlock[]> {
    // Refused with a 400 that names the parameter, as everywhere else, rather than guessed at.
    const start = countParameter(from, 'from') ?? 1n;
    if (start < 1n) {
      throw new InvalidParameterError('from', 'a height from 1');
    }
    const count = limitParameter(limit, 50, 200);
    const maxTransactions = boundedParameter(transactions, 'transactions', {
      fallback: CATCH_UP_PAGE_TRANSACTIONS,
      min: 1,
      max: CATCH_UP_PAGE_TRANSACTIONS,
    });
    return (await this.repository.finalBlocks(start, count, maxTransactions)).map((b) =>
      blockToWire(b.block, b.certificate),
    );
  }

  /** The blocks of this node's head branch above its final tip, parents first: a peer fetches those it lacks. */
  @Get('candidates')
  candidates(): CandidateRef[] {
    return this.chain
      .candidateBlocks()
      .map(({ block }) => ({ hash: block.hashHex, height: block.height.toString() }));
  }

  @Get('candidates/:hash')
  candidate(@Param('hash') hash: string): WireBlock {
    if (!isHashHex(hash)) {
      throw new BadRequestException('a block hash is 64 lower-case hex characters');
    }
    const found = this.chain.candidateBlock(hash);
    if (!found) {
      throw new NotFoundException(`no candidate block ${hash} on this node`);
    }
    return blockToWire(found.block, found.certificate);
  }
}

const WIRE_BLOCK_FIELDS = ['header', 'signature', 'body'] as const;
const WIRE_VOTE_FIELDS = ['height', 'blockHash', 'signature'] as const;

/**
 * A peer's payload is checked for shape before it is decoded: an authenticated message from a known
 * peer can still carry anything, and a missing field must be a 400 that names it, not a TypeError.
 */
function wireOf<T>(value: unknown, fields: readonly string[], what: string): T {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new BadRequestException(`${what} must be an object`);
  }
  const record = value as Record<string, unknown>;
  for (const field of fields) {
    if (typeof record[field] !== 'string') {
      throw new BadRequestException(`${what}.${field} must be a string`);
    }
  }
  if (record.certificate !== undefined && typeof record.certificate !== 'string') {
    throw new BadRequestException(`${what}.certificate must be a string`);
  }
  return value as T;
}

function arrayOf(value: unknown, what: string): unknown[] {
  if (!Array.isArray(value) || value.length > 5_000) {
    throw new BadRequestException(`${what} must be an array of at most 5,000 items`);
  }
  return value;
}
