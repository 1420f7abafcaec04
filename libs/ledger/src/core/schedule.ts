import { hash } from 'node:crypto';

/**
 * Delegated proof of stake (paper III.B, VI.E; DESIGN.md section 4) as pure functions.
 *
 * Time. Slot s covers [genesis + s*slotMs, genesis + (s+1)*slotMs); block slots start at 1, and a
 * block's timestamp is its slot's start. Rounds are N slots long (N = the genesis' `producers`):
 * round r holds slots r*N+1 .. (r+1)*N.
 *
 * Election. Organisations vote with their stake for delegates (approval voting: each organisation's
 * whole stake counts for every delegate it approves). The N delegates with the most votes produce;
 * ties go to the smaller id. A delegate that missed a slot is dropped from the next election it can
 * be known to every node: round r is elected from the chain as it stood at the end of round r-2 (the
 * votes, revocations and missed slots recorded up to then), so that a block arriving late at the end
 * of round r-1 cannot make two nodes disagree on round r. Rounds 0 and 1 use the genesis state.
 * If fewer than N delegates are eligible, the elected ones fill the N slots in turn; if none is
 * (everyone missed), the exclusions are ignored rather than stopping the chain.
 *
 * Order. The round's N slots are shuffled (Fisher-Yates) with a generator seeded by the hash of the
 * last block of round r-2 (the genesis hash before there is one), so no one can choose its position.
 */
export interface DelegateStanding {
  id: string;
  /** Sum of the stakes of the organisations that approve it. */
  votes: bigint;
  active: boolean;
}

export interface RoundSchedule {
  round: bigint;
  /** The elected delegates, sorted by id: the voter set of the round's quorum certificates. */
  elected: string[];
  /** The producer of each of the round's N slots, in slot order. */
  slots: string[];
  /**
   * The delegates the stake alone elects (the top N, before anyone is left out for missed slots),
   * sorted by id. A certificate needs more than half of them as well as two thirds of `elected`:
   * the delegates one side of a network cut can still hear can shrink `elected` to themselves two
   * rounds on, but only a side holding most of this set can certify, so two sides never both do.
   */
  base: string[];
}

export interface Timing {
  genesisTime: number;
  slotMs: number;
  producers: number;
}

export function slotAt(timing: Timing, timestamp: number): bigint {
  if (timestamp < timing.genesisTime) {
    return 0n;
  }
  return BigInt(Math.floor((timestamp - timing.genesisTime) / timing.slotMs));
}

export function slotStart(timing: Timing, slot: bigint): number {
  return timing.genesisTime + Number(slot) * timing.slotMs;
}

/**
 * How long the producer of `slot` still waits, at `now`, for the block of the slot before its own
 * when its head is older: until half its slot. Built at once on the older head while that block is
 * on its way, its block would be a second one at that height, and delegates, who vote once per
 * height, would split their votes and certify neither. A slot that was really missed costs the next
 * block half a slot, no more.
 */
export function waitForPreviousBlockMs(timing: Timing, slot: bigint, headSlot: bigint, now: number): number {
  if (headSlot >= slot - 1n) {
    return 0;
  }
  return Math.max(0, slotStart(timing, slot) + Math.floor(timing.slotMs / 2) - now);
}

export function roundOfSlot(timing: Timing, slot: bigint): bigint {
  if (slot < 1n) {
    throw new RangeError('block slots start at 1');
  }
  return (slot - 1n) / BigInt(timing.producers);
}

export function firstSlotOfRound(timing: Timing, round: bigint): bigint {
  return round * BigInt(timing.producers) + 1n;
}

export function lastSlotOfRound(timing: Timing, round: bigint): bigint {
  return (round + 1n) * BigInt(timing.producers);
}

/** The round whose chain state elects `round` (see the comment above): r-2, or none for rounds 0 and 1. */
export function electingRound(round: bigint): bigint | undefined {
  return round >= 2n ? round - 2n : undefined;
}

/** Ranks the eligible delegates and elects up to `seats` of them. */
export function elect(
  standings: readonly DelegateStanding[],
  seats: number,
  excluded: ReadonlySet<string>,
): string[] {
  const ranked = [...standings]
    .filter((d) => d.active)
    .sort((a, b) =>
      a.votes === b.votes ? (a.id < b.id ? -1 : a.id > b.id ? 1 : 0) : a.votes > b.votes ? -1 : 1,
    );
  const eligible = ranked.filter((d) => !excluded.has(d.id));
  return (eligible.length > 0 ? eligible : ranked).slice(0, seats).map((d) => d.id);
}

export function scheduleRound(
  round: bigint,
  elected: readonly string[],
  seats: number,
  seed: Uint8Array,
  base: readonly string[] = elected,
): RoundSchedule {
  if (elected.length === 0) {
    throw new RangeError('a round needs at least one elected delegate');
  }
  const slots = Array.from({ length: seats }, (_, i) => elected[i % elected.length]!);
  const random = shuffleStream(seed, round);
  for (let i = slots.length - 1; i > 0; i -= 1) {
    const j = random(i + 1);
    [slots[i], slots[j]] = [slots[j]!, slots[i]!];
  }
  return { round, elected: [...elected].sort(), slots, base: [...base].sort() };
}

/**
 * Round r's election on a branch (a chain of blocks, ascending): the index of the branch's last block
 * at or before the end of round r-2, -1 if there is none on it. That block (or, at -1, the block the
 * branch grows from) is the round's anchor: its state elects and its hash seeds the order, so the
 * schedule depends on the chain alone, never on when a node happens to look.
 */
export function electionAnchorIndex(timing: Timing, round: bigint, branchSlots: readonly bigint[]): number {
  const end = round >= 2n ? lastSlotOfRound(timing, round - 2n) : 0n;
  let anchor = -1;
  branchSlots.forEach((slot, i) => {
    if (slot <= end) {
      anchor = i;
    }
  });
  return anchor;
}

/**
 * The producers of `schedule`'s slots after `after` that have no block among `produced`: the
 * delegates a branch records as having missed a slot of that round.
 */
export function missedOnBranch(
  timing: Timing,
  schedule: RoundSchedule,
  after: bigint,
  produced: ReadonlySet<bigint>,
): Set<string> {
  const missed = new Set<string>();
  const first = firstSlotOfRound(timing, schedule.round);
  for (
    let slot = after + 1n > first ? after + 1n : first;
    slot <= lastSlotOfRound(timing, schedule.round);
    slot += 1n
  ) {
    if (!produced.has(slot)) {
      missed.add(producerOfSlot(timing, schedule, slot));
    }
  }
  return missed;
}

export function producerOfSlot(timing: Timing, schedule: RoundSchedule, slot: bigint): string {
  if (roundOfSlot(timing, slot) !== schedule.round) {
    throw new RangeError(`slot ${slot} is not in round ${schedule.round}`);
  }
  return schedule.slots[Number((slot - 1n) % BigInt(timing.producers))]!;
}

/**
 * Uniform integers in [0, bound) from SHA-256("CBSG-SHUFFLE-V1" | seed | u64 round | u64 counter),
 * by rejection sampling on 32-bit words (no modulo bias).
 */
function shuffleStream(seed: Uint8Array, round: bigint): (bound: number) => number {
  let counter = 0n;
  let pool: number[] = [];
  const refill = () => {
    const input = Buffer.alloc(15 + seed.length + 16);
    let at = input.write('CBSG-SHUFFLE-V1');
    input.set(seed, at);
    at += seed.length;
    at = input.writeBigUInt64BE(round, at);
    input.writeBigUInt64BE(counter, at);
    counter += 1n;
    const digest = hash('sha256', input, 'buffer');
    pool = Array.from({ length: 8 }, (_, i) => digest.readUInt32BE(i * 4));
  };
  return (bound: number) => {
    const limit = Math.floor(0x1_0000_0000 / bound) * bound;
    for (;;) {
      if (pool.length === 0) {
        refill();
      }
      const value = pool.shift()!;
      if (value < limit) {
        return value % bound;
      }
    }
  };
}

/** Approval voting: each organisation's current ballot gives its whole stake to every delegate on it. */
export function tallyVotes(
  delegates: ReadonlyArray<{ id: string; active: boolean }>,
  ballots: ReadonlyArray<{ stake: bigint; approves: readonly string[] }>,
): DelegateStanding[] {
  const votes = new Map<string, bigint>(delegates.map((d) => [d.id, 0n]));
  for (const ballot of ballots) {
    for (const id of new Set(ballot.approves)) {
      if (votes.has(id)) {
        votes.set(id, votes.get(id)! + ballot.stake);
      }
    }
  }
  return delegates.map((d) => ({ id: d.id, active: d.active, votes: votes.get(d.id)! }));
}
