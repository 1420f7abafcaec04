import type { DimensionValue, ReadingValues } from '@app/meter-sdk';

/**
 * What a receiver holds after decrypting its share of a meter's reports: per interval, the values of
 * the dimensions its sharing policy gives it (a subset of the standard reading, decoded with
 * decodeDimension). The analyses here take these and nothing else.
 */
export interface IntervalReading {
  /** Start of the interval the reading describes, ms since the epoch (the meter reports that). */
  at: number;
  values: ReadingValues;
}

export interface MeterSeries {
  meterId: string;
  /** The meter's reading interval, ms (15 min for the standard fleet). */
  intervalMs: number;
  /** In arrival order: possibly unsorted, with gaps and repeats. */
  readings: readonly IntervalReading[];
}

export type { DimensionValue };

export const PHASES = ['a', 'b', 'c'] as const;
export type Phase = (typeof PHASES)[number];

const VOLTAGE_KEYS = ['voltage_a', 'voltage_b', 'voltage_c'] as const;
const CURRENT_KEYS = ['current_a', 'current_b', 'current_c'] as const;

/** The three phase voltages and currents of a reading, when all six are finite numbers. */
export function threePhase(
  values: ReadingValues,
): { volts: [number, number, number]; amperes: [number, number, number] } | undefined {
  const v0 = values[VOLTAGE_KEYS[0]];
  const v1 = values[VOLTAGE_KEYS[1]];
  const v2 = values[VOLTAGE_KEYS[2]];
  const i0 = values[CURRENT_KEYS[0]];
  const i1 = values[CURRENT_KEYS[1]];
  const i2 = values[CURRENT_KEYS[2]];
  if (
    !isFiniteNumber(v0) ||
    !isFiniteNumber(v1) ||
    !isFiniteNumber(v2) ||
    !isFiniteNumber(i0) ||
    !isFiniteNumber(i1) ||
    !isFiniteNumber(i2)
  ) {
    return undefined;
  }
  return { volts: [v0, v1, v2], amperes: [i0, i1, i2] };
}

export function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;
