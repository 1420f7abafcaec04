import { FleetSimulator, type MeterTruth, type StandardDimension } from '@app/meter-sdk';

import type { IntervalReading, MeterSeries } from '../meter-series';

/**
 * Test data from the meter SDK's fleet simulator, shaped as a receiver holds it after decryption:
 * only its own dimensions, and nothing for the intervals a meter in an outage never reported.
 * Used by the specs only.
 */

export const CC_DIMENSIONS: readonly StandardDimension[] = [
  'consumption_kwh',
  'voltage_a',
  'voltage_b',
  'voltage_c',
  'current_a',
  'current_b',
  'current_c',
];

/** 2026-11-02 00:00 UTC, a Monday: the simulated weeks start here. */
export const MONDAY = Date.UTC(2026, 10, 2);

export interface SimulatedShare {
  series: MeterSeries;
  /** Ground truth per interval, reporting or not, for scoring. */
  truth: MeterTruth[];
}

export function simulatedShare(
  sim: FleetSimulator,
  meterId: string,
  from: number,
  intervals: number,
  options: {
    dimensions?: readonly StandardDimension[];
    /** Keep the outage intervals too, with the zeros a dead meter would show if it were asked. */
    reportOutages?: boolean;
  } = {},
): SimulatedShare {
  const dimensions = options.dimensions ?? CC_DIMENSIONS;
  const readings: IntervalReading[] = [];
  const truth: MeterTruth[] = [];
  for (let k = 0; k < intervals; k++) {
    const at = from + k * sim.intervalMs;
    const sample = sim.sample(meterId, at);
    truth.push(sample.truth);
    if (!sample.truth.reporting && options.reportOutages !== true) {
      continue;
    }
    const values: Record<string, number | string> = {};
    for (const dimension of dimensions) {
      values[dimension] = sample.reading[dimension];
    }
    readings.push({ at, values });
  }
  return { series: { meterId, intervalMs: sim.intervalMs, readings }, truth };
}
