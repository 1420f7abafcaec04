import {
  type DeviceState,
  type DeviceStatus,
  FAULT_CODES,
  FAULT_TYPES,
  type FaultType,
  TRANSIENT_ALARM_CODE,
} from './device-status';
import { mixWords, Rng, words } from './prng';
import { DAY_MS, HOUR_MS, MINUTE_MS } from './time';

// Bound once, as in prng.ts: global lookups are slow inside jest's vm context.
const { floor, max, round } = Math;

/**
 * When each meter is in which device state, as a pure function of (seed, meter, slot): no state is
 * carried from one interval to the next, so any slot can be asked for on its own, in any order.
 *
 * Time is cut into fixed windows counted from the Unix epoch. A faulty meter has at most one fault
 * episode per FAULT_WINDOW; every meter has at most one transient alarm per day. An episode never
 * touches the first or last slot of its window and a transient alarm keeps one slot clear of any
 * episode, so the states seen interval by interval only make the transitions of DEVICE_TRANSITIONS.
 */

const FAULT_WINDOW_MS = 4 * DAY_MS;
/** A faulty meter fails in about three windows out of four: roughly every five days. */
const FAULT_EPISODE_CHANCE = 0.75;
/** A faulty meter mostly fails the same way (its weak part); sometimes otherwise. */
const CHRONIC_FAULT_SHARE = 0.75;
const TRANSIENT_ALARM_CHANCE_PER_DAY = { healthy: 0.03, faulty: 0.1 };

type Range = readonly [lowMs: number, highMs: number];

/** Plausible phase durations: field alarms escalate within hours; a crew takes hours to a day. */
const PHASE_DURATION: Readonly<Record<'alarm' | 'emergency' | 'outage', Range>> = {
  alarm: [30 * MINUTE_MS, 4 * HOUR_MS],
  emergency: [15 * MINUTE_MS, 2 * HOUR_MS],
  outage: [2 * HOUR_MS, 18 * HOUR_MS],
};
const REPAIR_DURATION: Readonly<Record<'onSite' | 'remote', Range>> = {
  onSite: [1 * HOUR_MS, 4 * HOUR_MS],
  remote: [15 * MINUTE_MS, 1 * HOUR_MS],
};
const TRANSIENT_ALARM_DURATION: Range = [15 * MINUTE_MS, 1 * HOUR_MS];

const STREAM_EPISODE = 0x45504953;
const STREAM_TRANSIENT = 0x5452414e;

export interface ScheduledPhase {
  state: Exclude<DeviceState, 'normal'>;
  /** First slot in this state. */
  fromSlot: number;
  /** First slot after it. */
  toSlot: number;
}

export interface ScheduledEpisode {
  type: FaultType;
  phases: ScheduledPhase[];
  startSlot: number;
  endSlot: number;
  /** How bad this episode is, 0..1: scales its physical symptom (how hot, how wet, how deep a sag). */
  severity: number;
  /** The phase (0 = a, 1 = b, 2 = c) a phase_loss episode hits. */
  phase: 0 | 1 | 2;
}

export class FaultSchedule {
  readonly slotsPerDay: number;
  readonly slotsPerWindow: number;
  readonly #seed: [number, number];
  readonly #intervalMs: number;

  constructor(seed: number, intervalMs: number) {
    this.#seed = words(seed);
    this.#intervalMs = intervalMs;
    this.slotsPerDay = DAY_MS / intervalMs;
    this.slotsPerWindow = FAULT_WINDOW_MS / intervalMs;
    const longest =
      this.#slots(PHASE_DURATION.alarm[1]) +
      this.#slots(PHASE_DURATION.emergency[1]) +
      this.#slots(PHASE_DURATION.outage[1]) +
      this.#slots(REPAIR_DURATION.onSite[1]);
    // The placement below needs a free slot at both ends of the window.
    if (!Number.isInteger(this.slotsPerDay) || longest > this.slotsPerWindow - 3) {
      throw new RangeError(`an interval of ${intervalMs} ms does not fit the fault schedule`);
    }
  }

  /** The fault episode of one window, if the meter is faulty (chronic set) and fails in it. */
  episodeInWindow(
    meterKey: number,
    window: number,
    chronic: FaultType | undefined,
  ): ScheduledEpisode | undefined {
    if (chronic === undefined) {
      return undefined;
    }
    const rng = new Rng(mixWords(...this.#seed, meterKey, STREAM_EPISODE, ...words(window)));
    // Every draw happens whatever the outcome, so that each value keeps its place in the stream.
    const fails = rng.chance(FAULT_EPISODE_CHANCE);
    const usual = rng.chance(CHRONIC_FAULT_SHARE);
    const other = rng.pick(FAULT_TYPES);
    const type = usual ? chronic : other;
    const severity = rng.next();
    const phase = rng.int(3) as 0 | 1 | 2;
    const alarm = this.#slots(rng.uniform(...PHASE_DURATION.alarm));
    const emergency = this.#slots(rng.uniform(...PHASE_DURATION.emergency));
    const outage = this.#slots(rng.uniform(...PHASE_DURATION.outage));
    const repair =
      type === 'firmware'
        ? this.#slots(rng.uniform(...REPAIR_DURATION.remote))
        : this.#slots(rng.uniform(...REPAIR_DURATION.onSite));
    const place = rng.next();
    if (!fails) {
      return undefined;
    }
    const durations: Array<[ScheduledPhase['state'], number]> =
      type === 'firmware'
        ? [
            ['alarm', alarm],
            ['emergency', emergency],
            ['repair', repair],
          ]
        : [
            ['alarm', alarm],
            ['emergency', emergency],
            ['outage', outage],
            ['repair', repair],
          ];
    const total = durations.reduce((sum, [, n]) => sum + n, 0);
    // Start in [window start + 1, window end - 1 - total]: the window's first and last slots stay normal.
    const startSlot = window * this.slotsPerWindow + 1 + floor(place * (this.slotsPerWindow - total - 1));
    let at = startSlot;
    const phases = durations.map(([state, n]) => {
      const entry = { state, fromSlot: at, toSlot: at + n };
      at += n;
      return entry;
    });
    return { type, phases, startSlot, endSlot: at, severity, phase };
  }

  /** The day's transient alarm as [fromSlot, toSlot), if any, already cleared of fault episodes. */
  transientAlarm(
    meterKey: number,
    day: number,
    chronic: FaultType | undefined,
  ): [number, number] | undefined {
    const rng = new Rng(mixWords(...this.#seed, meterKey, STREAM_TRANSIENT, ...words(day)));
    const chance =
      chronic === undefined ? TRANSIENT_ALARM_CHANCE_PER_DAY.healthy : TRANSIENT_ALARM_CHANCE_PER_DAY.faulty;
    const happens = rng.chance(chance);
    const length = this.#slots(rng.uniform(...TRANSIENT_ALARM_DURATION));
    const place = rng.next();
    if (!happens) {
      return undefined;
    }
    const from = day * this.slotsPerDay + floor(place * (this.slotsPerDay - length + 1));
    const to = from + length;
    // A day lies inside one window (the window is a whole number of days from the same origin).
    const episode = this.episodeInWindow(meterKey, floor(from / this.slotsPerWindow), chronic);
    if (episode && from - 1 < episode.endSlot && episode.startSlot < to + 1) {
      return undefined;
    }
    return [from, to];
  }

  /** The state in one slot, and the episode it belongs to if it is part of one. */
  statusAt(
    meterKey: number,
    slot: number,
    chronic: FaultType | undefined,
  ): { status: DeviceStatus; episode?: ScheduledEpisode } {
    const episode = this.episodeInWindow(meterKey, floor(slot / this.slotsPerWindow), chronic);
    const phase = episode?.phases.find((p) => p.fromSlot <= slot && slot < p.toSlot);
    if (episode && phase) {
      return { status: { state: phase.state, code: FAULT_CODES[episode.type] }, episode };
    }
    const transient = this.transientAlarm(meterKey, floor(slot / this.slotsPerDay), chronic);
    if (transient && transient[0] <= slot && slot < transient[1]) {
      return { status: { state: 'alarm', code: TRANSIENT_ALARM_CODE } };
    }
    return { status: { state: 'normal' } };
  }

  /** Every episode that overlaps the slots [fromSlot, toSlot). */
  episodes(
    meterKey: number,
    fromSlot: number,
    toSlot: number,
    chronic: FaultType | undefined,
  ): ScheduledEpisode[] {
    const found: ScheduledEpisode[] = [];
    if (chronic === undefined || toSlot <= fromSlot) {
      return found;
    }
    const last = floor((toSlot - 1) / this.slotsPerWindow);
    for (let window = floor(fromSlot / this.slotsPerWindow); window <= last; window++) {
      const episode = this.episodeInWindow(meterKey, window, chronic);
      if (episode && episode.startSlot < toSlot && fromSlot < episode.endSlot) {
        found.push(episode);
      }
    }
    return found;
  }

  /** A duration as whole slots, at least one, so that no state falls between two readings. */
  #slots(durationMs: number): number {
    return max(1, round(durationMs / this.#intervalMs));
  }
}
