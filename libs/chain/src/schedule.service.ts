import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import type { Pool } from 'pg';

import {
  elect,
  electingRound,
  firstSlotOfRound,
  lastSlotOfRound,
  producerOfSlot,
  roundOfSlot,
  type RoundSchedule,
  scheduleRound,
  slotStart,
  tallyVotes,
} from '@app/ledger';
import { PG_POOL, type SqlExecutor } from '@app/persistence';

import { ChainContext } from './chain-context.service';
import { ChainRepository, type FinalTip } from './chain.repository';

/**
 * Round schedules (libs/ledger/src/core/schedule.ts explains the rules). Each is computed once, from
 * the final chain as it stood at the end of round r-2, stored, and never changed.
 */
@Injectable()
export class ScheduleService implements OnModuleInit {
  private readonly logger = new Logger(ScheduleService.name);
  private readonly rounds = new Map<bigint, RoundSchedule>();
  private readonly repository: ChainRepository;

  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    private readonly context: ChainContext,
  ) {
    this.repository = new ChainRepository(pool);
  }

  async onModuleInit(): Promise<void> {
    for (const schedule of await this.repository.schedules()) {
      this.rounds.set(schedule.round, schedule);
    }
    for (const round of [0n, 1n]) {
      if (!this.rounds.has(round)) {
        const schedule = await this.compute(this.pool, round, new Set(), this.context.genesisHash);
        await this.repository.saveSchedule(this.pool, schedule, this.context.genesisHash);
        this.rounds.set(round, schedule);
      }
    }
  }

  forRound(round: bigint): RoundSchedule | undefined {
    return this.rounds.get(round);
  }

  forSlot(slot: bigint): RoundSchedule | undefined {
    return slot >= 1n ? this.rounds.get(roundOfSlot(this.context.timing, slot)) : undefined;
  }

  producerOf(slot: bigint): string | undefined {
    const schedule = this.forSlot(slot);
    return schedule ? producerOfSlot(this.context.timing, schedule, slot) : undefined;
  }

  /**
   * The schedule of `round`, elected now if the chain stalled: when the round has begun and no final
   * block after round r-2 has elected it (finalizing one needs a certified child, which needs round r's
   * producers), it is elected from the final chain as it stands, as if the next final block came after
   * round r-2 (the producers of r-2's remaining slots count as missed), seeded by the final tip. Every
   * node that shares the final tip, as all do once the chain stands still, elects the same; a later
   * final block never replaces it. Without this, an outage longer than a round would stop the chain.
   */
  async ensureRound(round: bigint, now = Date.now()): Promise<RoundSchedule | undefined> {
    const known = this.rounds.get(round);
    const timing = this.context.timing;
    if (known || round < 2n || now < slotStart(timing, firstSlotOfRound(timing, round))) {
      return known;
    }
    const tip = await this.repository.finalTip(this.context.genesisHash);
    const ended = round - 2n;
    if (tip.slot > lastSlotOfRound(timing, ended)) {
      return undefined; // a final block after r-2 exists: its finalization elects the round
    }
    const { rows } = await this.pool.query<{ delegate: string }>(
      'SELECT DISTINCT delegate FROM missed_slots WHERE round = $1',
      [ended.toString()],
    );
    const excluded = new Set(rows.map((r) => r.delegate));
    const from =
      tip.slot + 1n > firstSlotOfRound(timing, ended) ? tip.slot + 1n : firstSlotOfRound(timing, ended);
    for (let slot = from; slot <= lastSlotOfRound(timing, ended); slot += 1n) {
      const producer = this.producerOf(slot);
      if (producer) {
        excluded.add(producer);
      }
    }
    const schedule = await this.compute(this.pool, round, excluded, tip.hash);
    await this.repository.saveSchedule(this.pool, schedule, tip.hash);
    this.rounds.set(round, schedule);
    this.logger.warn(
      `round ${round} began before any final block after round ${ended}: elected from the final chain at height ${tip.height}`,
    );
    return schedule;
  }

  /** Known schedules from `fromRound` on. */
  known(fromRound = 0n): RoundSchedule[] {
    return [...this.rounds.values()]
      .filter((r) => r.round >= fromRound)
      .sort((a, b) => (a.round < b.round ? -1 : 1));
  }

  /**
   * Called while finalizing `slot`'s block, before its own changes apply: elects round r+2 for every
   * round r that ended since the previous final block (`previous`), from the state at that point.
   */
  async electAfter(sql: SqlExecutor, previous: FinalTip, slot: bigint): Promise<void> {
    const timing = this.context.timing;
    const first = previous.slot >= 1n ? roundOfSlot(timing, previous.slot) : 0n;
    const last = roundOfSlot(timing, slot) - 1n;
    for (let ended = first; ended <= last; ended += 1n) {
      const round = ended + 2n;
      if (this.rounds.has(round) || lastSlotOfRound(timing, ended) >= slot) {
        continue;
      }
      const { rows } = await sql.query<{ delegate: string }>(
        'SELECT DISTINCT delegate FROM missed_slots WHERE round = $1',
        [ended.toString()],
      );
      const schedule = await this.compute(sql, round, new Set(rows.map((r) => r.delegate)), previous.hash);
      await this.repository.saveSchedule(sql, schedule, previous.hash);
      this.rounds.set(round, schedule);
      if (rows.length > 0) {
        this.logger.log(
          `round ${round}: dropped ${rows.map((r) => r.delegate).join(', ')} for missing slots in round ${ended}`,
        );
      }
    }
  }

  private async compute(
    sql: SqlExecutor,
    round: bigint,
    excluded: ReadonlySet<string>,
    seed: Uint8Array,
  ): Promise<RoundSchedule> {
    if (electingRound(round) === undefined && excluded.size > 0) {
      throw new Error('rounds 0 and 1 are elected from the genesis state');
    }
    const { rows: delegates } = await sql.query<{ id: string; status: string }>(
      'SELECT id, status FROM registry_delegates ORDER BY id',
    );
    const { rows: ballots } = await sql.query<{ stake: string; approves: string[] }>(
      `SELECT o.stake, b.approves FROM registry_ballots b JOIN registry_organisations o ON o.id = b.organisation`,
    );
    const standings = tallyVotes(
      delegates.map((d) => ({ id: d.id, active: d.status === 'active' })),
      ballots.map((b) => ({ stake: BigInt(b.stake), approves: b.approves })),
    );
    const seats = this.context.timing.producers;
    return scheduleRound(round, elect(standings, seats, excluded), seats, seed);
  }
}
