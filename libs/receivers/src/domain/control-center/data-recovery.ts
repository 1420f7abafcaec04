import { canonicalJson } from '@app/kernel';

import { DAY_MS, type DimensionValue, isFiniteNumber, type MeterSeries } from '../meter-series';
import { round } from '../statistics';

// Bound once: inside jest's vm context every global lookup such as `Math` is slow.
const { floor, max } = Math;

/**
 * Data recovery after a meter outage (paper V.A: "unscheduled smart meter outage causes data
 * disorder or omission"). The series is put in interval order, repeats are dropped, the missing
 * intervals are found, and each missing value is estimated by a method chosen for its dimension:
 *
 * - load-following dimensions (energy per interval, phase currents) follow the customer's daily
 *   routine: across a gap longer than an hour they are taken from the same time on neighbouring days
 *   (a daily profile), shifted to meet the level measured on both sides of the gap; across a short
 *   gap, or without neighbouring days, they are interpolated linearly;
 * - slow physical dimensions (phase voltages, enclosure temperature and humidity, any other number)
 *   are interpolated linearly between the two sides;
 * - device_status and every other text dimension are observations of a state and are never
 *   estimated: an interpolated status would be an invented event.
 *
 * Every recovered point says it is recovered and by which method per dimension; whatever cannot be
 * recovered is listed with the reason. Nothing here overwrites a measured value.
 */

export type RecoveryMethod = 'linear' | 'daily-profile';

export interface RecoveryOptions {
  /** Gaps longer than this (intervals) are not filled: the estimate would be mostly guess. */
  maxGapIntervals: number;
  /** Gaps up to this length (intervals) are linear for every dimension. */
  linearUpToIntervals: number;
  /** Days before and after a gap whose same-time readings form the daily profile. */
  profileDayOffsets: readonly number[];
  /** Measured intervals on each side of a gap that set the profile's shift. */
  edgeWindow: number;
  /** Dimensions that follow the load (daily profile); never negative. */
  loadDimensions: readonly string[];
  /** The range of intervals expected, [from, to) in ms; default: first to last reading received. */
  from?: number;
  to?: number;
}

export const DEFAULT_RECOVERY_OPTIONS: Readonly<RecoveryOptions> = Object.freeze({
  maxGapIntervals: 96,
  linearUpToIntervals: 4,
  profileDayOffsets: Object.freeze([-1, 1, -7, 7]),
  edgeWindow: 4,
  loadDimensions: Object.freeze(['consumption_kwh', 'current_a', 'current_b', 'current_c']),
});

export type SeriesPoint =
  | { at: number; origin: 'measured'; values: Record<string, DimensionValue> }
  | {
      at: number;
      origin: 'recovered';
      values: Record<string, number>;
      /** How each recovered value was estimated. */
      methods: Record<string, RecoveryMethod>;
    };

export interface UnrecoveredValue {
  at: number;
  dimension: string;
  reason: string;
}

export interface RecoveryReport {
  meterId: string;
  intervalMs: number;
  /** Every interval of the range that has a measured or recovered value, in order. */
  points: SeriesPoint[];
  measuredIntervals: number;
  /** Interval starts with no reading received. */
  missingIntervals: number[];
  recoveredIntervals: number;
  unrecovered: UnrecoveredValue[];
  /** Readings that arrived after a later interval's reading. */
  outOfOrderArrivals: number;
  /** Repeated intervals: the first arrival is kept; `identical` says whether the repeat agreed. */
  duplicates: Array<{ at: number; identical: boolean }>;
  /** Readings whose time was not an interval start (moved to the start of their interval). */
  misaligned: number;
  /** Readings outside the requested range (ignored). */
  outsideRange: number;
}

export class RecoveryOptionError extends RangeError {
  readonly code = 'RECEIVERS.BAD_RECOVERY_OPTION';
}

function recoveryOptions(overrides: Partial<RecoveryOptions>): RecoveryOptions {
  const options = { ...DEFAULT_RECOVERY_OPTIONS, ...overrides };
  const whole = (n: number, least: number): boolean => Number.isInteger(n) && n >= least;
  if (
    !whole(options.maxGapIntervals, 1) ||
    !whole(options.linearUpToIntervals, 0) ||
    !whole(options.edgeWindow, 1)
  ) {
    throw new RecoveryOptionError('maxGapIntervals, linearUpToIntervals and edgeWindow are whole numbers');
  }
  if (!options.profileDayOffsets.every((d) => Number.isInteger(d) && d !== 0)) {
    throw new RecoveryOptionError('profileDayOffsets are whole, non-zero numbers of days');
  }
  return options;
}

export function recoverSeries(series: MeterSeries, overrides: Partial<RecoveryOptions> = {}): RecoveryReport {
  const options = recoveryOptions(overrides);
  const interval = series.intervalMs;
  if (!Number.isInteger(interval) || interval <= 0) {
    throw new RecoveryOptionError('intervalMs is a positive whole number of ms');
  }
  const firstSlot = options.from === undefined ? undefined : Math.ceil(options.from / interval);
  const endSlot = options.to === undefined ? undefined : Math.ceil(options.to / interval);

  // 1. Into interval order, first arrival kept.
  const measured = new Map<number, Record<string, DimensionValue>>();
  const duplicates: RecoveryReport['duplicates'] = [];
  let outOfOrder = 0;
  let misaligned = 0;
  let outsideRange = 0;
  let latest = Number.NEGATIVE_INFINITY;
  for (const reading of series.readings) {
    const slot = floor(reading.at / interval);
    if (slot * interval !== reading.at) {
      misaligned += 1;
    }
    if ((firstSlot !== undefined && slot < firstSlot) || (endSlot !== undefined && slot >= endSlot)) {
      outsideRange += 1;
      continue;
    }
    if (slot < latest) {
      outOfOrder += 1;
    }
    latest = max(latest, slot);
    const kept = measured.get(slot);
    if (kept !== undefined) {
      duplicates.push({
        at: slot * interval,
        identical: canonicalJson(kept) === canonicalJson(reading.values),
      });
      continue;
    }
    measured.set(slot, { ...reading.values });
  }
  const slots = [...measured.keys()].sort((x, y) => x - y);
  const from = firstSlot ?? slots[0];
  const end = endSlot ?? (slots.length > 0 ? (slots[slots.length - 1] as number) + 1 : undefined);
  const report: RecoveryReport = {
    meterId: series.meterId,
    intervalMs: interval,
    points: [],
    measuredIntervals: slots.length,
    missingIntervals: [],
    recoveredIntervals: 0,
    unrecovered: [],
    outOfOrderArrivals: outOfOrder,
    duplicates,
    misaligned,
    outsideRange,
  };
  if (from === undefined || end === undefined) {
    return report;
  }

  // 2. The gaps: runs of missing intervals, each with its measured neighbours (if any).
  const recovered = new Map<
    number,
    { values: Record<string, number>; methods: Record<string, RecoveryMethod> }
  >();
  const slotsPerDay = DAY_MS / interval;
  let slot = from;
  while (slot < end) {
    if (measured.has(slot)) {
      slot += 1;
      continue;
    }
    const gapStart = slot;
    while (slot < end && !measured.has(slot)) {
      slot += 1;
    }
    fillGap(gapStart, slot, { measured, recovered, report, options, interval, slotsPerDay });
  }

  // 3. The series, in order, each point saying where it came from.
  for (let s = from; s < end; s++) {
    const values = measured.get(s);
    if (values !== undefined) {
      report.points.push({ at: s * interval, origin: 'measured', values });
      continue;
    }
    report.missingIntervals.push(s * interval);
    const estimate = recovered.get(s);
    if (estimate !== undefined) {
      report.points.push({ at: s * interval, origin: 'recovered', ...estimate });
      report.recoveredIntervals += 1;
    }
  }
  return report;
}

interface GapContext {
  measured: ReadonlyMap<number, Record<string, DimensionValue>>;
  recovered: Map<number, { values: Record<string, number>; methods: Record<string, RecoveryMethod> }>;
  report: RecoveryReport;
  options: RecoveryOptions;
  interval: number;
  slotsPerDay: number;
}

/** Fills the missing slots [start, end) between the measured slots start − 1 and end (when they exist). */
function fillGap(start: number, end: number, ctx: GapContext): void {
  const { measured, report, options, interval } = ctx;
  const left = measured.get(start - 1);
  const right = measured.get(end);
  const length = end - start;
  const unrecovered = (dimension: string, reason: string): void => {
    for (let s = start; s < end; s++) {
      report.unrecovered.push({ at: s * interval, dimension, reason });
    }
  };
  const dimensions = [...new Set([...Object.keys(left ?? {}), ...Object.keys(right ?? {})])].sort();
  for (const dimension of dimensions) {
    const a = left?.[dimension];
    const b = right?.[dimension];
    if (typeof a === 'string' || typeof b === 'string') {
      unrecovered(
        dimension,
        dimension === 'device_status'
          ? 'a device status is an observed state and is never interpolated'
          : 'a text value is not interpolated',
      );
      continue;
    }
    if (left === undefined || right === undefined) {
      unrecovered(
        dimension,
        `no reading on ${left === undefined ? 'the earlier' : 'the later'} side of the gap`,
      );
      continue;
    }
    if (!isFiniteNumber(a) || !isFiniteNumber(b)) {
      unrecovered(dimension, 'the value is missing on one side of the gap');
      continue;
    }
    if (length > options.maxGapIntervals) {
      unrecovered(
        dimension,
        `a gap of ${length} intervals is longer than the ${options.maxGapIntervals} recovered`,
      );
      continue;
    }
    const isLoad = options.loadDimensions.includes(dimension);
    const profiled =
      isLoad && length > options.linearUpToIntervals ? profileFill(dimension, start, end, ctx) : undefined;
    for (let s = start; s < end; s++) {
      const estimate = profiled?.[s - start] ?? a + ((b - a) * (s - start + 1)) / (length + 1);
      const entry = ctx.recovered.get(s) ?? { values: {}, methods: {} };
      entry.values[dimension] = round(isLoad ? max(0, estimate) : estimate, 6);
      entry.methods[dimension] = profiled === undefined ? 'linear' : 'daily-profile';
      ctx.recovered.set(s, entry);
    }
  }
}

/**
 * The daily-profile estimate of one dimension over the gap [start, end): the mean of the measured
 * values at the same time on the neighbouring days, shifted by the mean difference between measured
 * and profile on up to edgeWindow intervals each side, that shift moving linearly across the gap.
 * Undefined when any gap slot or both edges lack a profile (then the gap is linear).
 */
function profileFill(dimension: string, start: number, end: number, ctx: GapContext): number[] | undefined {
  const { measured, options, slotsPerDay } = ctx;
  const profileAt = (slot: number): number | undefined => {
    let sum = 0;
    let count = 0;
    for (const days of options.profileDayOffsets) {
      const value = measured.get(slot + days * slotsPerDay)?.[dimension];
      if (isFiniteNumber(value)) {
        sum += value;
        count += 1;
      }
    }
    return count > 0 ? sum / count : undefined;
  };
  const profile: number[] = [];
  for (let s = start; s < end; s++) {
    const p = profileAt(s);
    if (p === undefined) {
      return undefined;
    }
    profile.push(p);
  }
  const edgeShift = (from: number, step: -1 | 1): number | undefined => {
    let sum = 0;
    let count = 0;
    for (let s = from; count < options.edgeWindow; s += step) {
      const value = measured.get(s)?.[dimension];
      if (!isFiniteNumber(value)) {
        break;
      }
      const p = profileAt(s);
      if (p !== undefined) {
        sum += value - p;
        count += 1;
      } else if (Math.abs(s - from) > 4 * options.edgeWindow) {
        break;
      }
    }
    return count > 0 ? sum / count : undefined;
  };
  const before = edgeShift(start - 1, -1);
  const after = edgeShift(end, 1);
  if (before === undefined || after === undefined) {
    return undefined;
  }
  const length = end - start;
  return profile.map((p, i) => p + before + ((after - before) * (i + 1)) / (length + 1));
}
