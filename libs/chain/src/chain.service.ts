import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import type { Pool } from 'pg';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

import { APP_CONFIG, type AppConfig } from '@app/config';
import { fromBase64, fromHex, type Report, toBase64, toHex } from '@app/crypto';
import { type IntakeHold, ReportIntakeService } from '@app/intake';
import {
  aggregateVotes,
  Block,
  blockHash,
  type ChainLink,
  decodeQuorumCertificate,
  encodeQuorumCertificate,
  finalHeight,
  holdsBaseMajority,
  invalidVotes,
  isHashHex,
  isQuorum,
  type QuorumCertificate,
  QuorumError,
  producerOfSlot,
  roundOfSlot,
  signVote,
  slotAt,
  slotStart,
  type Transaction,
  type Vote,
  votersProblem,
  waitForPreviousBlockMs,
} from '@app/ledger';
import { PG_POOL } from '@app/persistence';

import { BlockRejectedError, BlockValidator } from './block-validator';
import {
  CATCH_UP_PAGE_BLOCKS,
  CATCH_UP_PAGE_TIMEOUT_MS,
  CATCH_UP_PAGE_TRANSACTIONS,
  nextCatchUpPageTransactions,
} from './catch-up-page';
import { ChainContext } from './chain-context.service';
import { ChainRepository, type FinalTip } from './chain.repository';
import { type Candidate, ChainTree } from './chain-tree';
import { type FinalizedCounts, Finalizer } from './finalizer';
import { intakeHoldOf } from './intake-hold';
import { MempoolService, type TransactionReceipt } from './mempool.service';
import { maxBlockAnswerBytes, maxCatchUpPageBytes } from './p2p/answer-caps';
import { wireHeight } from './p2p/messages';
import { PeerNetwork } from './p2p/peer-network';
import { ScheduleService } from './schedule.service';
import { SerialLanes } from './serial-lanes';

export interface ChainStatus {
  chainId: string;
  nodeId: string;
  currentSlot: string;
  currentRound: string;
  final: { height: string; hash: string; slot: string };
  head: { height: string; hash: string; slot: string };
  candidates: number;
  localDelegates: string[];
  /** Totals of the final chain. */
  totals: FinalizedCounts;
}

export interface WireBlock {
  header: string;
  signature: string;
  body: string;
  certificate?: string;
}

export function blockToWire(block: Block, certificate?: QuorumCertificate | null): WireBlock {
  return {
    header: toHex(block.headerBytes),
    signature: toHex(block.signature),
    body: toBase64(block.encodeBody()),
    ...(certificate ? { certificate: toHex(encodeQuorumCertificate(certificate)) } : {}),
  };
}

export function certificateFromWire(wire: WireBlock): QuorumCertificate | null {
  return wire.certificate ? decodeQuorumCertificate(fromHex(wire.certificate, 'certificate')) : null;
}

/** The hash a wire block would have, from its header and signature alone (the body is not decoded). */
function wireBlockHashHex(wire: WireBlock): string {
  return toHex(blockHash(fromHex(wire.header, 'header'), fromHex(wire.signature, 'signature', 96)));
}

export function blockFromWire(wire: WireBlock): Block {
  return Block.fromParts(
    fromHex(wire.header, 'header'),
    fromHex(wire.signature, 'signature', 96),
    fromBase64(wire.body, 'body'),
  );
}

/** A candidate block as a peer lists it: enough to tell whether we hold it, and to ask for it. */
export interface CandidateRef {
  hash: string;
  height: string;
}

/**
 * Where a block comes from. A block pushed by a peer, or made here, is relayed and voted on; one from
 * a peer's final chain (catch-up) is neither: it is final there, so every peer has it or will fetch it,
 * and votes on it change nothing. Relaying each caught-up block made a node that fell behind send its
 * busy peers megabytes of blocks they had made final long before. A candidate pulled from a peer's
 * list is voted on but not relayed: the peer that lists it relayed it when it took it, and a peer
 * that missed it pulls it the same way; relayed, it mostly reached peers that had made it final.
 */
interface BlockSource {
  peer?: string;
  finalThere?: boolean;
  pulled?: boolean;
}

const GOSSIP_BATCH = 250;
/** Base64 characters of reports in one gossip message: far below MAX_MESSAGE_BYTES, quick to check. */
const GOSSIP_MESSAGE_CHARS = 2 * 1024 * 1024;
/** How often a producer looks again for the previous slot's block while it waits for it. */
const PREVIOUS_BLOCK_POLL_MS = 50;
const GOSSIP_MAX_WAIT_MS = 500;
/** A task of the chain's queue that runs longer than this is logged: everything else waits for it. */
const SLOW_TASK_MS = 1_000;
/**
 * Catch-up polls (one a second) for which a peer's claim to be ahead still counts after it last
 * served a block above our head (catchUpFrom).
 */
const BACKED_CLAIM_GRACE_POLLS = 3;
/** A catch-up poll that takes blocks for longer than this says where its time went (log). */
const SLOW_CATCH_UP_MS = 5_000;
/**
 * How far above our head a peer's vote may be and still be held. A vote can overtake the block it is
 * on (the voters relay their votes while the block still travels, or waits in our queue), and one
 * block comes per slot: a few slots' worth covers that. A vote further ahead is on a block we lack
 * anyway, and catch-up brings such blocks with their certificates; held, it would only take memory.
 */
export const HELD_VOTE_HEIGHTS_AHEAD = 4n;
/**
 * The most unchecked votes held on one block: a vote per delegate of the largest elected set (101 in
 * the paper, one vote each if each node hosts one) with room to spare. Beyond it the oldest goes.
 */
export const MAX_HELD_VOTES_PER_BLOCK = 256;
/** The most unchecked votes held in all: beyond it those on the lowest height go first. */
export const MAX_HELD_VOTES = 4_096;

/**
 * The consortium chain on this node (DESIGN.md sections 3-4): receives, validates and stores blocks
 * that are not final yet, produces blocks in the slots of the delegates it hosts, votes for blocks
 * with them, gathers quorum certificates, and makes blocks final (Finalizer). Every change to the
 * block tree runs one at a time, in arrival order.
 */
@Injectable()
export class ChainService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(ChainService.name);
  private tree!: ChainTree;
  private readonly repository: ChainRepository;
  /** Verified votes, by block hash then voters. */
  private readonly votes = new Map<string, Map<string, Vote>>();
  /** Peers' votes not checked yet, by block hash then voters and signature: checked together at quorum. */
  private readonly heldVotes = new Map<string, Map<string, Vote>>();
  /** How many votes heldVotes holds, over all blocks (MAX_HELD_VOTES). */
  private heldVoteCount = 0;
  /** Work on the block tree, one task at a time (see SerialLanes for the order). */
  private readonly queue: SerialLanes;
  private timers: NodeJS.Timeout[] = [];
  private slotTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** A finalization step is in the queue (finalizeWhatWeCan makes one block final per step). */
  private finalizationQueued = false;
  /** Blocks received and waiting in the queue, by hash. */
  private readonly queuedBlocks = new Set<string>();
  private pendingReports: Report[] = [];
  /**
   * A peer's final height is above our head and the peer served blocks above our head to show it
   * (last catch-up poll, catchUpFrom): our delegates do not produce, and meters are turned away
   * (intakeHold).
   */
  private behindPeers = false;
  /** Catch-up polls so far, and the last poll in which each peer served a block above our head. */
  private catchUpPolls = 0;
  private readonly lastBackedPoll = new Map<string, number>();
  /** Transactions to ask for in the next catch-up page (nextCatchUpPageTransactions). */
  private catchUpPageTransactions = CATCH_UP_PAGE_TRANSACTIONS;
  /** Why meters are turned away now (intakeHold), to log when that starts and ends. */
  private meterHold: string | undefined;
  /** When the oldest report of pendingReports arrived. */
  private pendingSince = 0;
  private readonly blockListeners = new Set<(block: Block) => void>();
  private readonly totals: FinalizedCounts = { reports: 0, transactions: 0, missedSlots: 0 };
  private readonly produced: Counter;
  private readonly refused: Counter<'reason'>;
  private readonly received: Counter<'outcome'>;
  private readonly finalGauge: Gauge;
  private readonly headGauge: Gauge;
  private readonly finalityDelay: Histogram;
  private readonly expired: Counter<'kind'>;
  private readonly queueSeconds: Histogram<'task' | 'stage'>;
  private readonly stepSeconds: Histogram<'step'>;

  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly context: ChainContext,
    private readonly schedules: ScheduleService,
    private readonly validator: BlockValidator,
    private readonly mempool: MempoolService,
    private readonly finalizer: Finalizer,
    private readonly peers: PeerNetwork,
    private readonly intake: ReportIntakeService,
    metrics: Registry,
  ) {
    this.repository = new ChainRepository(pool);
    this.produced = new Counter({
      name: 'cbsg_blocks_produced_total',
      help: 'Blocks this node produced',
      registers: [metrics],
    });
    this.refused = new Counter({
      name: 'cbsg_blocks_refused_total',
      help: 'Blocks refused, by reason',
      labelNames: ['reason'],
      registers: [metrics],
    });
    this.received = new Counter({
      name: 'cbsg_blocks_received_total',
      help: 'Blocks received and not refused: new here, known already (held or queued), or final here already (a late relay)',
      labelNames: ['outcome'],
      registers: [metrics],
    });
    this.finalGauge = new Gauge({
      name: 'cbsg_final_height',
      help: 'Height of the last final block',
      registers: [metrics],
    });
    this.headGauge = new Gauge({
      name: 'cbsg_head_height',
      help: 'Height of the head (final or not)',
      registers: [metrics],
    });
    this.expired = new Counter({
      name: 'cbsg_mempool_expired_total',
      help: 'Accepted reports and transactions that no block took within the accept window',
      labelNames: ['kind'],
      registers: [metrics],
    });
    this.finalityDelay = new Histogram({
      name: 'cbsg_finality_slots',
      help: 'Slots from a block to its finality on this node',
      buckets: [1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 40, 80],
      registers: [metrics],
    });
    this.queueSeconds = new Histogram({
      name: 'cbsg_chain_queue_seconds',
      help: "The chain's serial queue: how long each kind of task waited for its turn, and ran",
      labelNames: ['task', 'stage'],
      buckets: [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
      registers: [metrics],
    });
    this.stepSeconds = new Histogram({
      name: 'cbsg_chain_block_step_seconds',
      help: "Where a block's turns in the chain's queue go: choosing its entries (when produced here), validating it, storing it, votes and certificates, and finalizing it",
      labelNames: ['step'],
      buckets: [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10],
      registers: [metrics],
    });
    this.queue = new SerialLanes({
      waited: (task, seconds) => this.queueSeconds.observe({ task, stage: 'wait' }, seconds),
      ran: (task, seconds) => {
        this.queueSeconds.observe({ task, stage: 'run' }, seconds);
        if (seconds * 1000 > SLOW_TASK_MS) {
          this.logger.log(`a ${task} task held the chain's queue for ${Math.round(seconds * 1000)} ms`);
        }
      },
    });
  }

  async onApplicationBootstrap(): Promise<void> {
    this.tree = new ChainTree(await this.repository.finalTip(this.context.genesisHash));
    this.finalGauge.set(Number(this.tree.finalTip.height));
    Object.assign(this.totals, await this.repository.finalTotals());
    await this.reloadCandidates();
    this.intake.onAccepted((reports, source) => {
      if (source === 'meter') {
        if (this.pendingReports.length === 0) {
          this.pendingSince = Date.now();
        }
        this.pendingReports.push(...reports);
      }
    });
    this.intake.holdMetersWhile(() => this.intakeHold());
    this.intake.skipPeerReportsIn((id) => this.tree.holdsEntry(id));
    this.every(100, () => this.gossipReports());
    this.every(5_000, async () => {
      const inCandidates = new Set(this.tree.all().flatMap((c) => [...c.entries]));
      await this.expireMempool(inCandidates);
      await this.regossip(inCandidates);
    });
    if (this.config.chain.peers.length > 0) {
      // Until the first poll says otherwise, a (re)started node may be behind: it does not produce.
      this.behindPeers = true;
      this.every(1_000, () => this.catchUp());
    }
    this.scheduleSlot();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.slotTimer);
    this.timers.forEach(clearInterval);
    await this.queue.idle();
  }

  status(): ChainStatus {
    const head = this.tree.head();
    const tip = this.tree.finalTip;
    const now = slotAt(this.context.timing, Date.now());
    return {
      chainId: this.context.chainId,
      nodeId: this.context.nodeId,
      currentSlot: now.toString(),
      currentRound: now >= 1n ? roundOfSlot(this.context.timing, now).toString() : '0',
      final: { height: tip.height.toString(), hash: toHex(tip.hash), slot: tip.slot.toString() },
      head: head
        ? {
            height: head.block.height.toString(),
            hash: head.hashHex,
            slot: head.block.header.slot.toString(),
          }
        : { height: tip.height.toString(), hash: toHex(tip.hash), slot: tip.slot.toString() },
      candidates: this.tree.size,
      localDelegates: [...this.context.localDelegates.keys()],
      totals: { ...this.totals },
    };
  }

  /** Calls `listener` with each new valid block (not final yet); returns the way to stop. */
  onBlockAccepted(listener: (block: Block) => void): () => void {
    this.blockListeners.add(listener);
    return () => this.blockListeners.delete(listener);
  }

  /** The candidates on the head's branch (for the API: "included, not final"). */
  headPath(): Candidate[] {
    const head = this.tree.head();
    return head ? (this.tree.pathTo(head.hashHex) ?? []) : [];
  }

  candidateBlocks(): Array<{ block: Block; certificate?: QuorumCertificate }> {
    return this.headPath().map((c) => ({ block: c.block, certificate: c.certificate }));
  }

  /** Any block this node holds above its final tip, on whichever branch. */
  candidateBlock(hashHex: string): { block: Block; certificate?: QuorumCertificate } | undefined {
    const found = this.tree.get(hashHex);
    return found && { block: found.block, certificate: found.certificate };
  }

  async submitTransaction(tx: Transaction, fromPeer = false): Promise<TransactionReceipt> {
    await this.mempool.precheck(tx);
    return this.queue.run('transaction', async () => {
      const receipt = await this.mempool.admit(tx, this.headPath());
      if (!receipt.duplicate && !fromPeer) {
        void this.peers.broadcast('transactions', { transactions: [tx.toJSON()] });
      }
      return receipt;
    });
  }

  /**
   * A block from a peer or produced here: validated and stored, and if new, relayed and voted for
   * (unless it comes from a peer's final chain, see BlockSource).
   */
  receiveBlock(
    block: Block,
    certificate: QuorumCertificate | null = null,
    source: BlockSource = {},
  ): Promise<void> {
    const hashHex = block.hashHex;
    this.queuedBlocks.add(hashHex);
    return this.queue
      .run('block', () => this.accept(block, certificate, source))
      .finally(() => this.queuedBlocks.delete(hashHex));
  }

  /**
   * A block as it travels between nodes. Every node relays what it accepts and catch-up fetches a
   * peer's candidates, so most blocks come more than once: one held or awaited here is known by its
   * hash, and its body is not decoded again.
   */
  receiveWireBlock(wire: WireBlock, from?: string, pulled = false): Promise<void> {
    if (this.holdsOrAwaits(wireBlockHashHex(wire))) {
      this.received.inc({ outcome: 'known' });
      return Promise.resolve();
    }
    return this.receiveBlock(blockFromWire(wire), null, { peer: from, pulled });
  }

  /** In the block tree, or received and waiting in the queue to be checked. */
  private holdsOrAwaits(hashHex: string): boolean {
    return this.tree.get(hashHex) !== undefined || this.queuedBlocks.has(hashHex);
  }

  receiveVotes(votes: readonly Vote[]): Promise<void> {
    return this.queue.run('votes', async () => {
      const blocks = new Set<string>();
      for (const vote of votes) {
        const hashHex = this.holdVote(vote);
        if (hashHex) {
          blocks.add(hashHex);
        }
      }
      for (const hashHex of blocks) {
        await this.tryCertify(hashHex);
      }
      await this.finalizeWhatWeCan();
    });
  }

  private async accept(
    block: Block,
    certificate: QuorumCertificate | null,
    source: BlockSource,
  ): Promise<void> {
    const known = this.tree.get(block.hashHex);
    if (known) {
      this.received.inc({ outcome: 'known' });
      // Gossip may have brought the block before its certificate: catch-up brings them together,
      // and without the certificate the block (and all above it) could wait for ever to be final.
      if (certificate && !known.certificate && this.validator.certifies(certificate, block, known.schedule)) {
        await this.certify(known.hashHex, certificate);
        await this.finalizeWhatWeCan();
      }
      return;
    }
    let candidate: Candidate;
    try {
      if (block.height <= this.tree.finalTip.height) {
        const final = await this.repository.finalHashAt(block.height);
        if (final && Buffer.from(final).equals(Buffer.from(block.hash))) {
          this.received.inc({ outcome: 'final_already' });
          return;
        }
        throw new BlockRejectedError(
          'BLOCK.CONFLICTS_WITH_FINAL',
          `height ${block.height} is final here with another block; a final block is never replaced`,
        );
      }
      candidate = await this.step('validate', () =>
        this.validator.validate(block, this.tree, Date.now(), certificate),
      );
    } catch (error) {
      if (error instanceof BlockRejectedError) {
        this.refused.inc({ reason: error.code });
        if (error.code !== 'BLOCK.UNKNOWN_PARENT') {
          this.logger.warn(
            `refused block ${block.hashHex.slice(0, 16)}… at height ${block.height} from ${block.header.producer}: ${error.code}: ${error.message}`,
          );
        }
      }
      throw error;
    }
    await this.step('store', () => this.repository.saveCandidate(block));
    this.tree.add(candidate);
    if (source.peer !== undefined) {
      this.received.inc({ outcome: 'new' });
    }
    if (!source.finalThere && !source.pulled) {
      // Relayed first (also when it came from a peer, but not back to it, so that a producer that
      // reaches only some nodes still reaches all): the next producer builds on it and every delegate
      // votes on it, while what follows here (votes, certificates, finalization) can take a while.
      void this.peers.broadcast('block', { block: blockToWire(block) }, source.peer);
    }
    for (const listener of this.blockListeners) {
      listener(block);
    }
    this.headGauge.set(Number(this.tree.head()?.block.height ?? this.tree.finalTip.height));
    await this.step('vote', async () => {
      const parentCertificate = block.header.parentCertificate;
      if (parentCertificate) {
        await this.certify(candidate.parentHex, parentCertificate);
      }
      if (certificate && this.validator.certifies(certificate, block, candidate.schedule)) {
        await this.certify(candidate.hashHex, certificate);
      }
      if (!source.finalThere) {
        await this.vote(candidate);
      }
      await this.tryCertify(candidate.hashHex);
    });
    await this.finalizeWhatWeCan();
  }

  /** Our delegates of the block's round vote for it, once per height, if it extends what is certified. */
  private async vote(candidate: Candidate): Promise<void> {
    const schedule = candidate.schedule;
    const lock = this.tree.highestCertified();
    if (!this.tree.extends(candidate.hashHex, lock.hashHex)) {
      return;
    }
    const electors = [...this.context.localDelegates.keys()].filter((id) => schedule.elected.includes(id));
    if (electors.length === 0) {
      return;
    }
    // Recorded before signing: a delegate that voted at this height (before a restart) does not again.
    const voters = await this.repository.recordVotes(candidate.block.height, electors, candidate.block.hash);
    if (voters.length === 0) {
      return;
    }
    const vote = signVote(
      voters.map((id) => ({ id, key: this.context.localDelegates.get(id)! })),
      this.context.chainId,
      candidate.block.height,
      candidate.block.hash,
    );
    this.addVote(vote);
    void this.peers.broadcast('votes', { votes: [voteToWire(vote)] });
  }

  /**
   * Keeps a peer's vote, unchecked, until its block could be certified (tryCertify): then the block's
   * votes are checked together, with one pairing check. A vote on a final height, more than
   * HELD_VOTE_HEIGHTS_AHEAD above our head, from an unknown voter or from voters all counted already
   * is dropped here. Held by voters and signature, so that a forged vote in the voters' names does not
   * replace the real one; the signature is checked only later, so what is held is bounded: per block
   * (MAX_HELD_VOTES_PER_BLOCK, the oldest goes) and in all (MAX_HELD_VOTES, the lowest height goes).
   */
  private holdVote(vote: Vote): string | undefined {
    const head = this.tree.head()?.block.height ?? this.tree.finalTip.height;
    if (
      vote.height <= this.tree.finalTip.height ||
      vote.height > head + HELD_VOTE_HEIGHTS_AHEAD ||
      vote.voters.some((voter) => !this.context.delegateKey(voter))
    ) {
      return undefined;
    }
    const hashHex = toHex(vote.blockHash);
    const counted = this.votedOn(hashHex);
    if (vote.voters.every((voter) => counted.has(voter))) {
      return undefined;
    }
    const held = this.heldVotes.get(hashHex) ?? new Map<string, Vote>();
    const key = `${votersKey(vote)}/${toHex(vote.signature)}`;
    if (held.has(key)) {
      return hashHex;
    }
    held.set(key, vote);
    this.heldVotes.set(hashHex, held);
    this.heldVoteCount += 1;
    if (held.size > MAX_HELD_VOTES_PER_BLOCK) {
      this.dropOldestHeldVote(hashHex, held);
    }
    while (this.heldVoteCount > MAX_HELD_VOTES) {
      this.dropLowestHeldVote();
    }
    return this.heldVotes.has(hashHex) ? hashHex : undefined;
  }

  private dropOldestHeldVote(hashHex: string, held: Map<string, Vote>): void {
    const oldest = held.keys().next().value;
    if (oldest !== undefined) {
      held.delete(oldest);
      this.heldVoteCount -= 1;
    }
    if (held.size === 0) {
      this.heldVotes.delete(hashHex);
    }
  }

  /** The oldest held vote on the lowest height held: the block likeliest to be final or lost soon. */
  private dropLowestHeldVote(): void {
    let lowest: { hashHex: string; held: Map<string, Vote>; height: bigint } | undefined;
    for (const [hashHex, held] of this.heldVotes) {
      const height = held.values().next().value?.height;
      if (height !== undefined && (!lowest || height < lowest.height)) {
        lowest = { hashHex, held, height };
      }
    }
    if (!lowest) {
      this.heldVoteCount = 0; // nothing held: the count was off, start again from zero
      return;
    }
    this.dropOldestHeldVote(lowest.hashHex, lowest.held);
  }

  /** Forgets the unchecked votes held on a block (checked now, or of no more use). */
  private releaseHeldVotes(hashHex: string): void {
    this.heldVoteCount -= this.heldVotes.get(hashHex)?.size ?? 0;
    this.heldVotes.delete(hashHex);
  }

  private addVote(vote: Vote): void {
    const hex = toHex(vote.blockHash);
    const byVoters = this.votes.get(hex) ?? new Map<string, Vote>();
    byVoters.set(votersKey(vote), vote);
    this.votes.set(hex, byVoters);
  }

  /** The delegates whose verified votes on the block this node holds. */
  private votedOn(hashHex: string): Set<string> {
    return new Set([...(this.votes.get(hashHex)?.values() ?? [])].flatMap((v) => v.voters));
  }

  private async tryCertify(hashHex: string): Promise<void> {
    const candidate = this.tree.get(hashHex);
    if (!candidate || candidate.certificate) {
      return;
    }
    const schedule = candidate.schedule;
    const byVoters = this.votes.get(hashHex) ?? new Map<string, Vote>();
    const held = [...(this.heldVotes.get(hashHex)?.values() ?? [])].filter((v) =>
      v.voters.every((voter) => schedule.elected.includes(voter)),
    );
    if (held.length > 0) {
      const voters = [...new Set([...this.votedOn(hashHex), ...held.flatMap((v) => v.voters)])];
      if (!isQuorum(voters.length, schedule.elected.length) || !holdsBaseMajority(voters, schedule.base)) {
        return; // not enough to certify yet, even if every held vote holds: check them later, together
      }
      const bad = new Set(
        invalidVotes(
          held,
          { height: candidate.block.height, hash: candidate.block.hash },
          this.context.chainId,
          (id) => this.context.delegateKey(id),
        ),
      );
      for (const vote of held) {
        if (!bad.has(vote)) {
          byVoters.set(votersKey(vote), vote);
        }
      }
      if (bad.size > 0) {
        this.logger.warn(
          `dropped ${bad.size} vote(s) on block ${hashHex.slice(0, 16)}… that do not verify (voters ${[...bad].map(votersKey).join('; ')})`,
        );
      }
      this.releaseHeldVotes(hashHex);
      this.votes.set(hashHex, byVoters);
    }
    if (byVoters.size === 0) {
      return;
    }
    const qc = aggregateVotes([...byVoters.values()], schedule.elected, schedule.round, schedule.base);
    if (qc) {
      await this.certify(hashHex, qc);
    }
  }

  private async certify(hashHex: string, certificate: QuorumCertificate): Promise<void> {
    const candidate = this.tree.get(hashHex);
    if (!candidate || candidate.certificate) {
      return;
    }
    candidate.certificate = certificate;
    await this.repository.certifyCandidate(candidate.block.hash, certificate);
  }

  /**
   * Makes the next block final if the rules allow, one block per step of the chain's queue: when
   * many blocks become final at once (votes that came late), their writes take turns with the blocks
   * and slots queued behind them instead of holding all of them up.
   */
  private async finalizeWhatWeCan(): Promise<void> {
    const head = this.tree.head();
    if (!head) {
      return;
    }
    const path = this.tree.pathTo(head.hashHex) ?? [];
    const links: ChainLink[] = path.map((c) => ({
      height: c.block.height,
      producer: c.block.header.producer,
      certified: c.certificate !== undefined,
      elected: c.schedule.elected,
      base: c.schedule.base,
    }));
    const target = finalHeight(links, this.tree.finalTip.height);
    const candidate = path[0];
    if (target <= this.tree.finalTip.height || !candidate) {
      return;
    }
    const previous: FinalTip = this.tree.finalTip;
    const added = await this.step('finalize', () => this.finalizer.finalize(candidate, previous));
    this.totals.reports += added.reports;
    this.totals.transactions += added.transactions;
    this.totals.missedSlots += added.missedSlots;
    const dropped = this.tree.advance({
      height: candidate.block.height,
      hash: candidate.block.hash,
      slot: candidate.block.header.slot,
    });
    await this.repository.dropCandidates(dropped.filter((d) => d !== candidate).map((d) => d.block.hash));
    this.votes.delete(candidate.hashHex);
    this.releaseHeldVotes(candidate.hashHex);
    this.finalityDelay.observe(Number(slotAt(this.context.timing, Date.now()) - candidate.block.header.slot));
    if (candidate.changes.some((c) => c.type === 'delegate-registered' || c.type === 'delegate-revoked')) {
      await this.context.refreshDelegateKeys();
    }
    this.finalGauge.set(Number(this.tree.finalTip.height));
    this.forgetVotesUpTo(this.tree.finalTip.height);
    if (target > this.tree.finalTip.height) {
      this.queueFinalization();
    }
  }

  /** One more finalization step at the end of the chain's queue (at most one waiting at a time). */
  private queueFinalization(): void {
    if (this.finalizationQueued || this.stopped) {
      return;
    }
    this.finalizationQueued = true;
    void this.queue
      .run('finalization', async () => {
        this.finalizationQueued = false;
        await this.finalizeWhatWeCan();
      })
      .catch((error: unknown) =>
        this.logger.error(`finalization failed: ${(error as Error).message}`, (error as Error).stack),
      );
  }

  /** Votes on heights that are final now (on blocks that lost, or never arrived) are of no more use. */
  private forgetVotesUpTo(height: bigint): void {
    for (const [hashHex, votes] of this.votes) {
      const first = votes.values().next().value;
      if (!first || first.height <= height) {
        this.votes.delete(hashHex);
      }
    }
    for (const [hashHex, votes] of this.heldVotes) {
      const first = votes.values().next().value;
      if (!first || first.height <= height) {
        this.releaseHeldVotes(hashHex);
      }
    }
  }

  /** Arms the timer for the next slot (a tenth into it; startSlot may wait longer for the previous block). */
  private scheduleSlot(): void {
    if (this.stopped || this.context.localDelegates.size === 0) {
      return;
    }
    const timing = this.context.timing;
    const next = slotAt(timing, Date.now()) + 1n;
    const delay = Math.max(0, slotStart(timing, next) + Math.floor(timing.slotMs / 10) - Date.now());
    this.slotTimer = setTimeout(() => this.startSlot(next), delay);
    this.slotTimer.unref?.();
  }

  /** Produces for `slot` (if one of ours holds it) once the previous slot's block is here, or half the slot has gone. */
  private startSlot(slot: bigint): void {
    if (this.stopped) {
      return;
    }
    const headSlot = this.tree.head()?.block.header.slot ?? this.tree.finalTip.slot;
    const wait = waitForPreviousBlockMs(this.context.timing, slot, headSlot, Date.now());
    if (wait > 0) {
      this.slotTimer = setTimeout(() => this.startSlot(slot), Math.min(wait, PREVIOUS_BLOCK_POLL_MS));
      this.slotTimer.unref?.();
      return;
    }
    void this.queue
      .run('production', () => this.produce(slot))
      .catch((error: unknown) =>
        this.logger.error(
          `producing slot ${slot} failed: ${(error as Error).message}`,
          (error as Error).stack,
        ),
      );
    this.scheduleSlot();
  }

  private async produce(slot: bigint): Promise<void> {
    const head = this.tree.head();
    const parentSlot = head ? head.block.header.slot : this.tree.finalTip.slot;
    if (parentSlot >= slot) {
      return;
    }
    const path = head ? (this.tree.pathTo(head.hashHex) ?? []) : [];
    const schedule = await this.schedules.onBranch(
      roundOfSlot(this.context.timing, slot),
      this.tree.finalTip,
      path,
    );
    const producer = producerOfSlot(this.context.timing, schedule, slot);
    const key = this.context.localDelegates.get(producer);
    if (!key) {
      return;
    }
    if (this.behindPeers) {
      // A block on a stale head is a fork nobody else can take: miss the slot, catch up first.
      this.logger.warn(`not producing slot ${slot} for ${producer}: this node is behind its peers`);
      return;
    }
    const timestamp = slotStart(this.context.timing, slot);
    const entries = await this.step('select', () => this.mempool.select(path, timestamp, this.blockLimit()));
    if (head && !head.certificate) {
      await this.tryCertify(head.hashHex);
    }
    const block = Block.produce(
      {
        chainId: this.context.chainId,
        height: (head ? head.block.height : this.tree.finalTip.height) + 1n,
        previousHash: head ? head.block.hash : this.tree.finalTip.hash,
        slot,
        timestamp,
        producer,
        parentCertificate: head?.certificate ?? null,
      },
      entries,
      key,
    );
    await this.accept(block, null, {});
    this.produced.inc();
  }

  /**
   * Final blocks and candidates from peers ahead of us, block by block, each validated. While a peer's
   * final height is above our head, and the peer backs that claim with blocks, this node is behind,
   * and its delegates do not produce.
   */
  private async catchUp(): Promise<void> {
    this.catchUpPolls += 1;
    let behind = false;
    for (const peer of this.peers.peers()) {
      try {
        behind = (await this.catchUpFrom(peer.id)) || behind;
      } catch (error) {
        // One peer's bad answer (a status that does not parse, a page that does not decode) is that
        // peer's fault: its claim counts for nothing, and the other peers are polled all the same.
        this.logger.warn(`catching up from ${peer.id}: ${(error as Error).message}`);
      }
    }
    this.behindPeers = behind;
  }

  /**
   * One peer's part of a catch-up poll. Returns whether it shows this node behind: its final height
   * is above our head, and in this poll (or one of the last few) it served a block above our head
   * that we took.
   * The status is the peer's word only (GET /p2p/status is not signed): a peer that claimed a final
   * height it cannot back with blocks would otherwise stop our production and intake for as long as
   * it liked.
   */
  private async catchUpFrom(peerId: string): Promise<boolean> {
    // Typed as what a faulty peer may send: any part may be missing.
    const status = await this.peers.get<Partial<ChainStatus>>(peerId, '/p2p/status');
    if (!status) {
      return false;
    }
    const peerFinal = wireHeight(status.final?.height);
    const peerHead = wireHeight(status.head?.height);
    if (peerFinal === undefined || peerHead === undefined) {
      throw new Error('its status does not give its final and head heights as decimal u64');
    }
    const headHeight = () => this.tree.head()?.block.height ?? this.tree.finalTip.height;
    /** The peer served a block above our head that we took, in this poll. */
    let backed = false;
    // Pages of the peer's final blocks from our final tip on. Blocks we hold already (taken as
    // candidates before we fell behind) change nothing until a certified pair above them comes,
    // so the cursor moves on through them rather than asking for the same page again.
    let next = this.tree.finalTip.height + 1n;
    // Where a slow catch-up spends its time, logged below: fetching pages, or taking their blocks.
    const pollStart = performance.now();
    let fetchMs = 0;
    let taken = 0;
    const { maxBlockTransactions } = this.context.blockRules;
    while (!this.stopped && peerFinal > this.tree.finalTip.height && next <= peerFinal) {
      const fetchStart = performance.now();
      const pageTransactions = this.catchUpPageTransactions;
      const batch = await this.peers.get<WireBlock[]>(
        peerId,
        `/p2p/blocks?from=${next}&limit=${CATCH_UP_PAGE_BLOCKS}&transactions=${pageTransactions}`,
        {
          timeoutMs: CATCH_UP_PAGE_TIMEOUT_MS,
          maxBytes: maxCatchUpPageBytes(pageTransactions, maxBlockTransactions),
        },
      );
      fetchMs += performance.now() - fetchStart;
      this.catchUpPageTransactions = nextCatchUpPageTransactions(this.catchUpPageTransactions, !!batch);
      if (!Array.isArray(batch) || batch.length === 0) {
        break;
      }
      // A page that does not decode is the peer's fault, not a refusal: it ends this peer's part
      // of the poll with a log line (catchUp).
      const blocks = batch.map((wire) => ({
        block: blockFromWire(wire),
        certificate: certificateFromWire(wire),
      }));
      try {
        for (const { block, certificate } of blocks) {
          const above = block.height > headHeight();
          await this.receiveBlock(block, certificate, { peer: peerId, finalThere: true });
          taken += 1;
          if (above && !backed) {
            backed = true;
            // Seen now, not only once this poll is over: catching up may take many blocks.
            this.behindPeers ||= peerFinal > headHeight();
          }
        }
      } catch (error) {
        // What follows builds on the refused block: leave it to the next poll.
        this.logger.debug(`catching up from ${peerId}: ${(error as Error).message}`);
        break;
      }
      next += BigInt(batch.length); // final blocks come in height order, one per height
    }
    const pollMs = performance.now() - pollStart;
    if (taken > 0 && pollMs > SLOW_CATCH_UP_MS) {
      this.logger.log(
        `caught up ${taken} final blocks from ${peerId} (now final at ${this.tree.finalTip.height}, ${peerId} at ${peerFinal}) in ${(pollMs / 1000).toFixed(1)} s: ${(fetchMs / 1000).toFixed(1)} s fetching pages, the rest taking their blocks`,
      );
    }
    // Under load a peer's head is often the block relayed to us a moment ago: only when we neither
    // hold nor await it is there anything to fetch, and then only the blocks we lack, one by one
    // (during a long wait for finality the peer's branch can hold many large blocks).
    if (peerHead > headHeight() && !this.holdsOrAwaits(String(status.head?.hash))) {
      for (const ref of (await this.peers.get<CandidateRef[]>(peerId, '/p2p/candidates')) ?? []) {
        if (typeof ref?.hash !== 'string' || !isHashHex(ref.hash)) {
          break; // not what a node of ours lists
        }
        if (this.stopped || this.holdsOrAwaits(ref.hash)) {
          continue;
        }
        const wire = await this.peers.get<WireBlock>(peerId, `/p2p/candidates/${ref.hash}`, {
          maxBytes: maxBlockAnswerBytes(maxBlockTransactions),
        });
        if (!wire) {
          break; // gone final there meanwhile, or the peer went away: the next poll sees
        }
        await this.receiveWireBlock(wire, peerId, true).catch(() => undefined);
      }
    }
    if (backed) {
      this.lastBackedPoll.set(peerId, this.catchUpPolls);
    }
    // A page that timed out says nothing against an honest peer that backed its claim a moment ago:
    // its claim keeps counting for a few polls, so a slow page does not let this node produce on a
    // stale head. A peer that never served a block above our head gets no such credit.
    const lastBacked = this.lastBackedPoll.get(peerId);
    const recentlyBacked =
      lastBacked !== undefined && this.catchUpPolls - lastBacked <= BACKED_CLAIM_GRACE_POLLS;
    return recentlyBacked && peerFinal > headHeight();
  }

  /** Entries in a block this node makes: its own MAX_BLOCK_TRANSACTIONS, within the consortium's limit. */
  private blockLimit(): number {
    return Math.min(this.config.chain.maxBlockTransactions, this.context.blockRules.maxBlockTransactions);
  }

  /** Intake's back-pressure from the chain (intakeHoldOf), with a log line when it starts and ends. */
  private intakeHold(): IntakeHold | undefined {
    const timing = this.context.timing;
    const hold = intakeHoldOf({
      blocksWaiting: this.queuedBlocks.size,
      peersAhead: this.behindPeers,
      finalityLagSlots: Number(slotAt(timing, Date.now()) - this.tree.finalTip.slot),
      holdAtFinalityLagSlots: this.config.chain.intakeHoldFinalityLagSlots,
      slotMs: timing.slotMs,
    });
    if (hold && this.meterHold === undefined) {
      this.logger.warn(`turning meters away while ${hold.reason}`);
    } else if (!hold && this.meterHold !== undefined) {
      this.logger.log("taking meters' reports again: the node has caught up with the chain");
    }
    this.meterHold = hold?.reason;
    return hold;
  }

  /**
   * Meters' reports go to the peers in batches of GOSSIP_BATCH, or after GOSSIP_MAX_WAIT_MS: each
   * message costs every peer a BLS check of its envelope, so many small ones cost more than the
   * quarter slot a report may wait.
   */
  private async gossipReports(): Promise<void> {
    const waited = Date.now() - this.pendingSince;
    if (
      this.pendingReports.length === 0 ||
      (this.pendingReports.length < GOSSIP_BATCH && waited < GOSSIP_MAX_WAIT_MS)
    ) {
      return;
    }
    const batch = this.pendingReports.splice(0, 2_000);
    this.pendingSince = Date.now();
    await this.gossip(batch.map((r) => r.bytes));
  }

  /** Reports to the peers, in messages of at most GOSSIP_MESSAGE_CHARS of base64 each. */
  private async gossip(reports: readonly Uint8Array[]): Promise<void> {
    let message: string[] = [];
    let chars = 0;
    for (const bytes of reports) {
      const encoded = toBase64(bytes);
      if (message.length > 0 && chars + encoded.length > GOSSIP_MESSAGE_CHARS) {
        await this.peers.broadcast('reports', { reports: message });
        message = [];
        chars = 0;
      }
      message.push(encoded);
      chars += encoded.length;
    }
    if (message.length > 0) {
      await this.peers.broadcast('reports', { reports: message });
    }
  }

  /** Receipts the chain can no longer honour are said so (event, metric, log), not gossiped forever. */
  private async expireMempool(inCandidates: ReadonlySet<string>): Promise<void> {
    const { reports, transactions } = await this.mempool.expire(inCandidates);
    if (reports + transactions > 0) {
      this.expired.inc({ kind: 'report' }, reports);
      this.expired.inc({ kind: 'transaction' }, transactions);
      this.logger.warn(
        `${reports} reports and ${transactions} transactions expired unincluded: no block took them within ${this.config.intake.acceptWindowMs} ms`,
      );
    }
  }

  /**
   * What a peer may have missed (it was down, a message was lost): sent again until it is in a block.
   * Entries in a candidate block are not: every peer that holds the block has them.
   */
  private async regossip(inCandidates: ReadonlySet<string>): Promise<void> {
    const stale = await this.mempool.stale(10_000, 1_000, inCandidates);
    if (stale.transactions.length > 0) {
      await this.peers.broadcast('transactions', { transactions: stale.transactions.map((t) => t.toJSON()) });
    }
    if (stale.reports.length > 0) {
      await this.gossip(stale.reports);
    }
  }

  private async reloadCandidates(): Promise<void> {
    const stored = await this.repository.candidates();
    let kept = 0;
    for (const { block, certificate } of stored) {
      try {
        const candidate = await this.validator.validate(
          block,
          this.tree,
          Number.MAX_SAFE_INTEGER,
          certificate,
        );
        this.tree.add(candidate);
        if (certificate) {
          candidate.certificate = certificate;
        }
        kept += 1;
      } catch {
        await this.repository.dropCandidates([block.hash]);
      }
    }
    if (stored.length > 0) {
      this.logger.log(`reloaded ${kept} of ${stored.length} candidate block(s)`);
    }
  }

  /** One step of a block's handling, timed for cbsg_chain_block_step_seconds. */
  private async step<T>(
    step: 'select' | 'validate' | 'store' | 'vote' | 'finalize',
    work: () => Promise<T>,
  ): Promise<T> {
    const stop = this.stepSeconds.startTimer({ step });
    try {
      return await work();
    } finally {
      stop();
    }
  }

  private every(ms: number, work: () => Promise<void>): void {
    let running = false;
    const timer = setInterval(() => {
      if (running || this.stopped) {
        return;
      }
      running = true;
      void work()
        .catch((error: unknown) =>
          this.logger.error(`${work.name || 'background work'} failed: ${(error as Error).message}`),
        )
        .finally(() => {
          running = false;
        });
    }, ms);
    timer.unref?.();
    this.timers.push(timer);
  }
}

export interface WireVote {
  height: string;
  blockHash: string;
  voters: string[];
  signature: string;
}

function votersKey(vote: Vote): string {
  return vote.voters.join(',');
}

export function voteToWire(vote: Vote): WireVote {
  return {
    height: vote.height.toString(),
    blockHash: toHex(vote.blockHash),
    voters: [...vote.voters],
    signature: toHex(vote.signature),
  };
}

export function voteFromWire(wire: WireVote): Vote {
  const voters: unknown = wire.voters;
  const problem = Array.isArray(voters) ? votersProblem(voters) : 'a vote names its voters in an array';
  if (problem) {
    throw new QuorumError(problem);
  }
  // Checked before BigInt, which throws a SyntaxError ("x", "1e3") that the filter answers with 500.
  const height = wireHeight(wire.height);
  if (height === undefined) {
    throw new QuorumError('a vote height is a decimal u64 (digits only, no leading zero)');
  }
  return {
    height,
    blockHash: fromHex(wire.blockHash, 'block hash', 32),
    voters: [...wire.voters],
    signature: fromHex(wire.signature, 'vote signature', 96),
  };
}
