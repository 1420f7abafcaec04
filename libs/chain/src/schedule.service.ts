import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import type { Pool } from 'pg';

import { toHex } from '@app/crypto';
import {
  elect,
  electingRound,
  electionAnchorIndex,
  lastSlotOfRound,
  missedOnBranch,
  producerOfSlot,
  roundOfSlot,
  type RoundSchedule,
  scheduleRound,
  tallyVotes,
} from '@app/ledger';
import { PG_POOL, type SqlExecutor } from '@app/persistence';
import type { RegistryChange } from '@app/registry';

import { ChainContext } from './chain-context.service';
import { ChainRepository, type FinalTip } from './chain.repository';

/** A block above the final tip, as far as elections care: its slot, hash and registry changes. */
export interface BranchBlock {
  block: { hash: Uint8Array; header: { slot: bigint } };
  changes: readonly RegistryChange[];
}

/** A schedule with the hash of its anchor block, which seeds it, and whom the misses kept out. */
export interface ElectedRound {
  schedule: RoundSchedule;
  seed: Uint8Array;
  dropped: string[];
}

/** What making a block final does to the schedules: the slots it records as missed, the rounds it settles. */
export interface FinalizationPlan {
  missed: Array<{ slot: bigint; round: bigint; delegate: string }>;
  settles: ElectedRound[];
}

/**
 * Round schedules (libs/ledger/src/core/schedule.ts explains the rules). Round r is elected on each
 * branch from its anchor, the branch's last block at or before the end of round r-2: the state and
 * hash of that block, and the producers of round r-2's slots that have no block on the branch. Once a
 * final block lies after round r-2, the anchor is final too and the round is settled: stored, and the
 * same for every node. Until then (finality lags, or the chain stood still) each branch has its own,
 * computed from the branch alone, so a node that was away gets the very schedule the others used.
 */
@Injectable()
export class ScheduleService implements OnModuleInit {
  private readonly logger = new Logger(ScheduleService.name);
  private readonly settled = new Map<bigint, RoundSchedule>();
  /** Unsettled rounds, by round then anchor hash (hex). */
  private readonly tentative = new Map<bigint, Map<string, ElectedRound>>();
  private readonly repository: ChainRepository;

  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    private readonly context: ChainContext,
  ) {
    this.repository = new ChainRepository(pool);
  }

  async onModuleInit(): Promise<void> {
    for (const schedule of await this.repository.schedules()) {
      this.settled.set(schedule.round, schedule);
    }
    for (const round of [0n, 1n]) {
      if (!this.settled.has(round)) {
        const schedule = await this.compute(round, new Set(), this.context.genesisHash, []);
        await this.repository.saveSchedule(this.pool, schedule, this.context.genesisHash);
        this.settled.set(round, schedule);
      }
    }
  }

  /** The settled schedule of `round`, if it is settled. */
  forRound(round: bigint): RoundSchedule | undefined {
    return this.settled.get(round);
  }

  forSlot(slot: bigint): RoundSchedule | undefined {
    return slot >= 1n ? this.settled.get(roundOfSlot(this.context.timing, slot)) : undefined;
  }

  producerOf(slot: bigint): string | undefined {
    const schedule = this.forSlot(slot);
    return schedule ? producerOfSlot(this.context.timing, schedule, slot) : undefined;
  }

  /** Settled schedules from `fromRound` on. */
  known(fromRound = 0n): RoundSchedule[] {
    return [...this.settled.values()]
      .filter((r) => r.round >= fromRound)
      .sort((a, b) => (a.round < b.round ? -1 : 1));
  }

  /**
   * The schedule of `round` on the branch that grows from the final tip `tip` through `branch` (the
   * blocks above the tip, ascending; a block's own round needs only its ancestors).
   */
  async onBranch(round: bigint, tip: FinalTip, branch: readonly BranchBlock[]): Promise<RoundSchedule> {
    return (await this.elected(round, tip, branch)).schedule;
  }

  /**
   * For making final the block at `slot` whose parent is the final tip `previous`: who missed the
   * slots in between, and the rounds that end up settled (every round r whose round r-2 ended before
   * `slot`), elected from `previous`, which the block's finalization makes their final anchor.
   */
  async planFinalization(previous: FinalTip, slot: bigint): Promise<FinalizationPlan> {
    const timing = this.context.timing;
    const missed: FinalizationPlan['missed'] = [];
    for (let at = previous.slot + 1n; at < slot; at += 1n) {
      const round = roundOfSlot(timing, at);
      const schedule = await this.onBranch(round, previous, []);
      missed.push({ slot: at, round, delegate: producerOfSlot(timing, schedule, at) });
    }
    const settles: ElectedRound[] = [];
    const first = previous.slot >= 1n ? roundOfSlot(timing, previous.slot) : 0n;
    for (let ended = first; lastSlotOfRound(timing, ended) < slot; ended += 1n) {
      if (!this.settled.has(ended + 2n)) {
        settles.push(await this.elected(ended + 2n, previous, []));
      }
    }
    return { missed, settles };
  }

  /** Stores the rounds a finalization settles, in its transaction. */
  async saveSettled(sql: SqlExecutor, plan: FinalizationPlan): Promise<void> {
    for (const { schedule, seed } of plan.settles) {
      await this.repository.saveSchedule(sql, schedule, seed);
    }
  }

  /** After the finalization committed: its rounds are settled here too. */
  settle(plan: FinalizationPlan): void {
    for (const { schedule, dropped } of plan.settles) {
      this.settled.set(schedule.round, schedule);
      this.tentative.delete(schedule.round);
      if (dropped.length > 0) {
        this.logger.log(
          `round ${schedule.round}: dropped ${dropped.join(', ')} for missing slots in round ${schedule.round - 2n}`,
        );
      }
    }
  }

  private async elected(round: bigint, tip: FinalTip, branch: readonly BranchBlock[]): Promise<ElectedRound> {
    const timing = this.context.timing;
    const known = this.settled.get(round);
    if (known) {
      // Settled: its anchor is final, so every branch above the final tip shares it.
      return { schedule: known, seed: new Uint8Array(), dropped: [] };
    }
    const ended = electingRound(round);
    if (ended === undefined || tip.slot > lastSlotOfRound(timing, ended)) {
      throw new Error(`round ${round} should have been settled by the final chain`);
    }
    const anchorIndex = electionAnchorIndex(
      timing,
      round,
      branch.map((b) => b.block.header.slot),
    );
    const upToAnchor = branch.slice(0, anchorIndex + 1);
    const seed = anchorIndex < 0 ? tip.hash : branch[anchorIndex]!.block.hash;
    const anchorHex = toHex(seed);
    const cached = this.tentative.get(round)?.get(anchorHex);
    if (cached) {
      return cached;
    }
    const endedSchedule = await this.onBranch(ended, tip, upToAnchor);
    const { rows } = await this.pool.query<{ delegate: string }>(
      'SELECT DISTINCT delegate FROM missed_slots WHERE round = $1',
      [ended.toString()],
    );
    const excluded = missedOnBranch(
      timing,
      endedSchedule,
      tip.slot,
      new Set(upToAnchor.map((b) => b.block.header.slot)),
    );
    rows.forEach((r) => excluded.add(r.delegate));
    const schedule = await this.compute(
      round,
      excluded,
      seed,
      upToAnchor.flatMap((b) => b.changes),
    );
    const elected: ElectedRound = {
      schedule,
      seed,
      dropped: [...excluded].filter((d) => !schedule.elected.includes(d)).sort(),
    };
    const byAnchor = this.tentative.get(round) ?? new Map<string, ElectedRound>();
    byAnchor.set(anchorHex, elected);
    this.tentative.set(round, byAnchor);
    return elected;
  }

  /** Elects `round` from the final state with the registry changes of `changes` on top. */
  private async compute(
    round: bigint,
    excluded: ReadonlySet<string>,
    seed: Uint8Array,
    changes: readonly RegistryChange[],
  ): Promise<RoundSchedule> {
    if (electingRound(round) === undefined && excluded.size > 0) {
      throw new Error('rounds 0 and 1 are elected from the genesis state');
    }
    const { rows: delegateRows } = await this.pool.query<{ id: string; status: string }>(
      'SELECT id, status FROM registry_delegates',
    );
    const { rows: organisations } = await this.pool.query<{
      id: string;
      stake: string;
      approves: string[] | null;
    }>(
      'SELECT o.id, o.stake, b.approves FROM registry_organisations o LEFT JOIN registry_ballots b ON b.organisation = o.id',
    );
    const active = new Map(delegateRows.map((d) => [d.id, d.status === 'active']));
    const ballots = new Map(organisations.flatMap((o) => (o.approves ? [[o.id, o.approves] as const] : [])));
    for (const change of changes) {
      if (change.type === 'delegate-registered') {
        active.set(change.delegate.id, true);
      } else if (change.type === 'delegate-revoked') {
        active.set(change.id, false);
      } else if (change.type === 'ballot-cast') {
        ballots.set(change.organisation, change.approves);
      }
    }
    const stakes = new Map(organisations.map((o) => [o.id, BigInt(o.stake)]));
    const standings = tallyVotes(
      [...active].map(([id, isActive]) => ({ id, active: isActive })),
      [...ballots].map(([organisation, approves]) => ({
        stake: stakes.get(organisation) ?? 0n,
        approves,
      })),
    );
    const seats = this.context.timing.producers;
    return scheduleRound(
      round,
      elect(standings, seats, excluded),
      seats,
      seed,
      elect(standings, seats, new Set()),
    );
  }
}
