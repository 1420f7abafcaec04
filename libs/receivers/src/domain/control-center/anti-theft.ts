import { HOUR_MS, type IntervalReading, isFiniteNumber, type MeterSeries, threePhase } from '../meter-series';
import { median, normalCdf, round } from '../statistics';

// Bound once: inside jest's vm context every global lookup such as `Math` is slow.
const { max, min, sqrt } = Math;

/**
 * Anti-theft, "high supply, low meter" (paper V.A). The phase currents carry the whole load even when
 * the energy register is bypassed, so the energy the currents say was supplied,
 *
 *   E_supplied = Σ_intervals Σ_phases V_i · I_i · pf · Δt,
 *
 * is compared with the energy the register reports. pf is not measured (the standard reading has no
 * power factor), so it is assumed LOW: with pf taken below any honest customer's real factor, the
 * supplied estimate is a lower bound of the true active energy, and an honest meter's ratio
 * (metered / supplied) = pf_true / pf_assumed stays at or above 1. Only a register that misses a
 * real share of the energy falls below the threshold. docs/analytics.md gives the numbers.
 */
export interface AntiTheftOptions {
  /** The power factor assumed for every meter without a known one (conservative: low). */
  assumedPowerFactor: number;
  /** Measured power factors where the CC knows them (a commissioning test, an industrial contract). */
  powerFactorByMeter: Readonly<Record<string, number>>;
  /** A meter is a suspect when metered / supplied falls below this. */
  suspectRatio: number;
  /** Fewer usable intervals than this: no verdict (undetermined), whatever the ratio. */
  minIntervals: number;
  /** Intervals whose supplied estimate is below this (kWh) are too small to compare reliably. */
  minSuppliedKwh: number;
  /** The one-sided confidence that the meter's ratio lies below the threshold, needed to list it. */
  minConfidence: number;
  /** A phase below this voltage carries no supply; all three below it is an outage interval. */
  minPhaseVoltage: number;
}

export const DEFAULT_ANTI_THEFT_OPTIONS: Readonly<AntiTheftOptions> = Object.freeze({
  assumedPowerFactor: 0.8,
  powerFactorByMeter: Object.freeze({}),
  suspectRatio: 0.8,
  minIntervals: 16,
  minSuppliedKwh: 0.005,
  minConfidence: 0.95,
  minPhaseVoltage: 50,
});

export interface PhaseEvidence {
  meanVolts: number;
  meanAmperes: number;
  suppliedKwh: number;
}

/** Everything the verdict on one meter rests on, so that a person can check it. */
export interface TheftEvidence {
  meterId: string;
  powerFactorAssumed: number;
  /** Intervals compared. */
  intervalsConsidered: number;
  /** Intervals left out, by cause. */
  skipped: { outage: number; incomplete: number; lowLoad: number; duplicate: number };
  firstAt: number | null;
  lastAt: number | null;
  meteredKwh: number;
  /** Lower bound of the energy the phase currents carried over the same intervals. */
  suppliedKwh: number;
  /** meteredKwh / suppliedKwh over the intervals considered (honest meters: about 1 or above). */
  ratio: number | null;
  /** Median of the per-interval ratios (robust to a few odd intervals). */
  medianIntervalRatio: number | null;
  /** Share of the intervals whose own ratio lies below the threshold. */
  shareBelowThreshold: number;
  /** Intervals where the register showed nothing while current flowed: a full bypass. */
  zeroRegisterIntervals: number;
  /** suppliedKwh − meteredKwh when positive: the least energy that went unmetered. */
  unmeteredKwh: number;
  /**
   * One-sided confidence that the meter's mean interval ratio lies below the threshold (normal
   * approximation of the mean of the per-interval ratios); 0 without enough intervals.
   */
  confidence: number;
  phases: { a: PhaseEvidence; b: PhaseEvidence; c: PhaseEvidence };
}

export type TheftReasonCode = 'METERED_BELOW_SUPPLIED' | 'PERSISTENT_UNDER_REGISTRATION' | 'ZERO_REGISTER';

export interface TheftReason {
  code: TheftReasonCode;
  text: string;
}

export interface TheftSuspect {
  meterId: string;
  reasons: TheftReason[];
  evidence: TheftEvidence;
}

export interface AntiTheftReport {
  /** Largest unmetered energy first (the paper: thieves are mainly large consumers). */
  suspects: TheftSuspect[];
  /** Meters compared and found consistent. */
  cleared: TheftEvidence[];
  /** Meters without enough usable intervals for a verdict, with the reason. */
  undetermined: Array<{ meterId: string; reason: string; evidence: TheftEvidence }>;
  options: AntiTheftOptions;
}

export class AntiTheftOptionError extends RangeError {
  readonly code = 'RECEIVERS.BAD_ANTI_THEFT_OPTION';
}

export function antiTheftOptions(overrides: Partial<AntiTheftOptions> = {}): AntiTheftOptions {
  const options = { ...DEFAULT_ANTI_THEFT_OPTIONS, ...overrides };
  const pfOk = (pf: number): boolean => pf > 0 && pf <= 1;
  if (!pfOk(options.assumedPowerFactor) || !Object.values(options.powerFactorByMeter).every(pfOk)) {
    throw new AntiTheftOptionError('power factors lie in (0, 1]');
  }
  if (!(options.suspectRatio > 0 && options.suspectRatio < 1)) {
    throw new AntiTheftOptionError('suspectRatio lies in (0, 1)');
  }
  if (!Number.isInteger(options.minIntervals) || options.minIntervals < 2) {
    throw new AntiTheftOptionError('minIntervals is a whole number, at least 2');
  }
  if (!(options.minConfidence > 0 && options.minConfidence < 1)) {
    throw new AntiTheftOptionError('minConfidence lies in (0, 1)');
  }
  if (!(options.minSuppliedKwh >= 0) || !(options.minPhaseVoltage >= 0)) {
    throw new AntiTheftOptionError('minSuppliedKwh and minPhaseVoltage are not negative');
  }
  return options;
}

/** Compares metered and supplied energy for one meter; the verdict is analyseTheft's. */
export function theftEvidence(series: MeterSeries, options: AntiTheftOptions): TheftEvidence {
  const pf = options.powerFactorByMeter[series.meterId] ?? options.assumedPowerFactor;
  const kwhPerWattInterval = series.intervalMs / HOUR_MS / 1000;
  const skipped = { outage: 0, incomplete: 0, lowLoad: 0, duplicate: 0 };
  const seen = new Set<number>();
  const ratios: number[] = [];
  const phaseSums = [0, 0, 0].map(() => ({ volts: 0, amperes: 0, kwh: 0 }));
  let metered = 0;
  let supplied = 0;
  let zeroRegister = 0;
  let firstAt: number | null = null;
  let lastAt: number | null = null;

  for (const reading of series.readings) {
    if (seen.has(reading.at)) {
      // A repeat of an interval already counted (a re-sent report) must not count twice.
      skipped.duplicate += 1;
      continue;
    }
    seen.add(reading.at);
    const sample = usableInterval(reading, options);
    if (sample === 'incomplete' || sample === 'outage') {
      skipped[sample] += 1;
      continue;
    }
    const { consumption, volts, amperes } = sample;
    let intervalSupplied = 0;
    const phaseKwh = [0, 0, 0];
    for (let i = 0; i < 3; i++) {
      const v = volts[i] as number;
      const kwh = v < options.minPhaseVoltage ? 0 : v * (amperes[i] as number) * pf * kwhPerWattInterval;
      phaseKwh[i] = kwh;
      intervalSupplied += kwh;
    }
    if (intervalSupplied < options.minSuppliedKwh) {
      skipped.lowLoad += 1;
      continue;
    }
    for (let i = 0; i < 3; i++) {
      const sums = phaseSums[i] as { volts: number; amperes: number; kwh: number };
      sums.volts += volts[i] as number;
      sums.amperes += amperes[i] as number;
      sums.kwh += phaseKwh[i] as number;
    }
    metered += consumption;
    supplied += intervalSupplied;
    ratios.push(consumption / intervalSupplied);
    if (consumption === 0) {
      zeroRegister += 1;
    }
    firstAt = firstAt === null ? reading.at : min(firstAt, reading.at);
    lastAt = lastAt === null ? reading.at : max(lastAt, reading.at);
  }

  const n = ratios.length;
  let confidence = 0;
  if (n >= 2) {
    let sum = 0;
    for (const r of ratios) {
      sum += r;
    }
    const mean = sum / n;
    let squares = 0;
    for (const r of ratios) {
      squares += (r - mean) * (r - mean);
    }
    // A floor on the spread: a meter whose ratio never moves (a fixed fraction to four decimals)
    // must not produce an infinite z from a zero variance.
    const sd = max(sqrt(squares / (n - 1)), 0.01);
    confidence = normalCdf((options.suspectRatio - mean) / (sd / sqrt(n)));
  }
  const phase = (i: number): PhaseEvidence => {
    const sums = phaseSums[i] as { volts: number; amperes: number; kwh: number };
    return {
      meanVolts: n > 0 ? round(sums.volts / n, 1) : 0,
      meanAmperes: n > 0 ? round(sums.amperes / n, 3) : 0,
      suppliedKwh: round(sums.kwh, 3),
    };
  };
  const below = ratios.filter((r) => r < options.suspectRatio).length;
  const medianRatio = n > 0 ? median(ratios) : Number.NaN;
  return {
    meterId: series.meterId,
    powerFactorAssumed: pf,
    intervalsConsidered: n,
    skipped,
    firstAt,
    lastAt,
    meteredKwh: round(metered, 3),
    suppliedKwh: round(supplied, 3),
    ratio: supplied > 0 ? round(metered / supplied, 4) : null,
    medianIntervalRatio: Number.isNaN(medianRatio) ? null : round(medianRatio, 4),
    shareBelowThreshold: n > 0 ? round(below / n, 4) : 0,
    zeroRegisterIntervals: zeroRegister,
    unmeteredKwh: round(max(0, supplied - metered), 3),
    confidence: round(confidence, 6),
    phases: { a: phase(0), b: phase(1), c: phase(2) },
  };
}

function usableInterval(
  reading: IntervalReading,
  options: AntiTheftOptions,
):
  | 'incomplete'
  | 'outage'
  | { consumption: number; volts: [number, number, number]; amperes: [number, number, number] } {
  const consumption = reading.values.consumption_kwh;
  const phases = threePhase(reading.values);
  if (!isFiniteNumber(consumption) || consumption < 0 || phases === undefined) {
    return 'incomplete';
  }
  if (phases.amperes.some((a) => a < 0) || phases.volts.some((v) => v < 0)) {
    return 'incomplete';
  }
  if (phases.volts.every((v) => v < options.minPhaseVoltage)) {
    return 'outage';
  }
  return { consumption, ...phases };
}

/**
 * The suspect list: meters whose register shows clearly less than their currents carried, with the
 * reasons in words and the evidence in numbers. Undetermined meters (too few usable intervals) are
 * listed apart, never as suspects and never as cleared.
 */
export function analyseTheft(
  series: readonly MeterSeries[],
  overrides: Partial<AntiTheftOptions> = {},
): AntiTheftReport {
  const options = antiTheftOptions(overrides);
  const suspects: TheftSuspect[] = [];
  const cleared: TheftEvidence[] = [];
  const undetermined: AntiTheftReport['undetermined'] = [];
  for (const one of series) {
    const evidence = theftEvidence(one, options);
    if (evidence.intervalsConsidered < options.minIntervals || evidence.ratio === null) {
      undetermined.push({
        meterId: one.meterId,
        reason: `${evidence.intervalsConsidered} usable intervals, at least ${options.minIntervals} needed`,
        evidence,
      });
      continue;
    }
    if (evidence.ratio < options.suspectRatio && evidence.confidence >= options.minConfidence) {
      suspects.push({ meterId: one.meterId, reasons: reasonsFor(evidence, options), evidence });
    } else {
      cleared.push(evidence);
    }
  }
  suspects.sort(
    (x, y) =>
      y.evidence.unmeteredKwh - x.evidence.unmeteredKwh ||
      (x.meterId < y.meterId ? -1 : x.meterId > y.meterId ? 1 : 0),
  );
  return { suspects, cleared, undetermined, options };
}

function reasonsFor(evidence: TheftEvidence, options: AntiTheftOptions): TheftReason[] {
  const percent = (share: number): string => `${round(share * 100, 1)} %`;
  const reasons: TheftReason[] = [
    {
      code: 'METERED_BELOW_SUPPLIED',
      text:
        `the register shows ${evidence.meteredKwh} kWh where the phase currents carried at least ` +
        `${evidence.suppliedKwh} kWh (ratio ${evidence.ratio}, threshold ${options.suspectRatio}, ` +
        `power factor assumed ${evidence.powerFactorAssumed}) over ${evidence.intervalsConsidered} intervals`,
    },
  ];
  if (evidence.shareBelowThreshold >= 0.8) {
    reasons.push({
      code: 'PERSISTENT_UNDER_REGISTRATION',
      text: `under-registered in ${percent(evidence.shareBelowThreshold)} of the intervals (median ratio ${evidence.medianIntervalRatio}): not a few odd readings`,
    });
  }
  if (evidence.zeroRegisterIntervals > 0) {
    reasons.push({
      code: 'ZERO_REGISTER',
      text: `the register showed 0 kWh in ${evidence.zeroRegisterIntervals} intervals while current flowed`,
    });
  }
  return reasons;
}
