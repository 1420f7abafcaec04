/**
 * Load shapes and per-kind parameters of the consumption model (see the model in fleet-simulator.ts).
 * Shapes are 24 hourly knots (the relative power at hh:00, local time), linearly interpolated and
 * scaled so that the week's mean is 1: a meter's mean power times the shape is its power at mild
 * temperature, before noise.
 */

// Bound once, as in prng.ts: global lookups are slow inside jest's vm context.
const { floor } = Math;

export const METER_KINDS = ['residential', 'commercial', 'industrial'] as const;

export type MeterKind = (typeof METER_KINDS)[number];

/** Share of each kind in a fleet (a city feeder mix: many homes, some shops and offices, few plants). */
export const KIND_SHARE: Readonly<Record<MeterKind, number>> = {
  residential: 0.8,
  commercial: 0.15,
  industrial: 0.05,
};

type Knots = readonly number[];

export interface KindProfile {
  weekday: Knots;
  weekend: Knots;
  /** Spread of the meter's mean power (weekly mean at mild temperature), kW. */
  meanPowerKw: { median: number; low: number; high: number };
  /** Log-normal multiplicative noise per interval (σ of the log). */
  noiseSigma: number;
  /** Standard deviation of a meter's habit shift against the shape, hours. */
  habitShiftSdH: number;
  /** Phase weights are drawn in [1 - spread, 1 + spread] (homes are far more unbalanced than plants). */
  phaseSpread: number;
  /** Per-interval relative jitter of each phase's share. */
  phaseJitterSd: number;
  /** Range of the meter's mean power factor. */
  powerFactor: readonly [number, number];
  /** Relative load increase per °C of daily mean below 15 °C (heating), and per °C above 22 °C (cooling). */
  heatingPerC: number;
  coolingPerC: number;
  /** Contracted power: mean power times headroom, rounded up to a whole number of steps, kW. */
  contractStepKw: number;
  contractHeadroom: number;
  /** Enclosure warming over the outdoor air at contracted power, °C (the meter's own losses). */
  selfHeatingC: number;
}

/** Homes: a breakfast peak, a dip while people are out, the evening peak (cooking, lights, TV). */
const RESIDENTIAL_WEEKDAY = [
  0.45, 0.38, 0.35, 0.34, 0.35, 0.45, 0.8, 1.15, 1.05, 0.8, 0.7, 0.7, 0.75, 0.7, 0.65, 0.7, 0.9, 1.3, 1.75,
  1.95, 1.8, 1.45, 1.0, 0.65,
];
/** Weekend homes: a later, longer morning and a busier midday. */
const RESIDENTIAL_WEEKEND = [
  0.5, 0.42, 0.37, 0.35, 0.35, 0.38, 0.5, 0.75, 1.05, 1.2, 1.15, 1.1, 1.15, 1.05, 0.95, 0.95, 1.05, 1.35,
  1.75, 1.9, 1.75, 1.4, 1.0, 0.7,
];
/** Shops and offices: a plateau over opening hours, refrigeration and standby at night. */
const COMMERCIAL_WEEKDAY = [
  0.3, 0.3, 0.3, 0.3, 0.3, 0.32, 0.45, 0.8, 1.35, 1.6, 1.7, 1.75, 1.7, 1.75, 1.75, 1.7, 1.6, 1.35, 0.9, 0.6,
  0.45, 0.38, 0.33, 0.3,
];
const COMMERCIAL_WEEKEND = [
  0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.32, 0.4, 0.55, 0.65, 0.7, 0.7, 0.7, 0.7, 0.65, 0.6, 0.5, 0.42, 0.36, 0.33,
  0.32, 0.31, 0.3, 0.3,
];
/** Plants: two shifts (06-22) over a process base load; lunch dip; a reduced base at the weekend. */
const INDUSTRIAL_WEEKDAY = [
  0.55, 0.55, 0.55, 0.55, 0.55, 0.6, 1.15, 1.3, 1.3, 1.3, 1.3, 1.2, 1.15, 1.3, 1.3, 1.3, 1.3, 1.3, 1.25, 1.25,
  1.2, 1.15, 0.7, 0.55,
];
const INDUSTRIAL_WEEKEND = [
  0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.55, 0.6, 0.62, 0.62, 0.62, 0.6, 0.6, 0.6, 0.6, 0.58, 0.55, 0.52, 0.5, 0.5,
  0.5, 0.5, 0.5, 0.5,
];

function weeklyMean(weekday: Knots, weekend: Knots): number {
  // The mean of a periodic piecewise-linear curve is the mean of its knots.
  const mean = (knots: Knots): number => knots.reduce((sum, v) => sum + v, 0) / knots.length;
  return (5 * mean(weekday) + 2 * mean(weekend)) / 7;
}

function normalised(weekday: Knots, weekend: Knots): { weekday: Knots; weekend: Knots } {
  const m = weeklyMean(weekday, weekend);
  return { weekday: weekday.map((v) => v / m), weekend: weekend.map((v) => v / m) };
}

export const KIND_PROFILES: Readonly<Record<MeterKind, KindProfile>> = {
  residential: {
    ...normalised(RESIDENTIAL_WEEKDAY, RESIDENTIAL_WEEKEND),
    // 0.45 kW is about 3,900 kWh a year, a European household.
    meanPowerKw: { median: 0.45, low: 0.15, high: 1.5 },
    noiseSigma: 0.18,
    habitShiftSdH: 0.5,
    phaseSpread: 0.6,
    phaseJitterSd: 0.15,
    powerFactor: [0.93, 0.98],
    heatingPerC: 0.012,
    coolingPerC: 0.03,
    contractStepKw: 3,
    contractHeadroom: 4.5,
    selfHeatingC: 2,
  },
  commercial: {
    ...normalised(COMMERCIAL_WEEKDAY, COMMERCIAL_WEEKEND),
    meanPowerKw: { median: 12, low: 4, high: 40 },
    noiseSigma: 0.07,
    habitShiftSdH: 0.4,
    phaseSpread: 0.1,
    phaseJitterSd: 0.03,
    powerFactor: [0.9, 0.96],
    heatingPerC: 0.015,
    coolingPerC: 0.045,
    contractStepKw: 5,
    contractHeadroom: 2.5,
    selfHeatingC: 3,
  },
  industrial: {
    ...normalised(INDUSTRIAL_WEEKDAY, INDUSTRIAL_WEEKEND),
    meanPowerKw: { median: 150, low: 60, high: 400 },
    noiseSigma: 0.05,
    habitShiftSdH: 0.15,
    phaseSpread: 0.05,
    phaseJitterSd: 0.02,
    powerFactor: [0.9, 0.95],
    heatingPerC: 0.004,
    coolingPerC: 0.008,
    contractStepKw: 50,
    contractHeadroom: 1.8,
    selfHeatingC: 4,
  },
};

/** Homes that heat with electricity respond several times more strongly to the cold. */
export const ELECTRIC_HEATING_SHARE = 0.25;
export const ELECTRIC_HEATING_PER_C = 0.06;

/** The shape's value at a (fractional) local hour; wraps around midnight. */
export function shapeAt(knots: Knots, hour: number): number {
  const h = ((hour % 24) + 24) % 24;
  const i = floor(h);
  const a = knots[i] ?? 0;
  const b = knots[(i + 1) % 24] ?? 0;
  return a + (b - a) * (h - i);
}

const NETWORK_SHAPE = KIND_PROFILES.residential.weekday;
const NETWORK_LOW = Math.min(...NETWORK_SHAPE);
const NETWORK_HIGH = Math.max(...NETWORK_SHAPE);

/**
 * How loaded the low-voltage network is at a local hour, 0 (night trough) .. 1 (evening peak): the
 * residential weekday shape, which dominates a city feeder. Voltages sag with it.
 */
export function networkLoad(hour: number): number {
  return (shapeAt(NETWORK_SHAPE, hour) - NETWORK_LOW) / (NETWORK_HIGH - NETWORK_LOW);
}
