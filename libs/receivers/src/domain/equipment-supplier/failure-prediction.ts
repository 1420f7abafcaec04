import { DAY_MS } from '../meter-series';
import { gammaQuantile, round } from '../statistics';
import type { DeviceStatistics } from './device-statistics';

// Bound once: inside jest's vm context every global lookup such as `Math` is slow.
const { exp } = Math;

/**
 * Failure prediction (paper V.C), as a hazard-rate estimate with a gamma-Poisson (empirical Bayes)
 * model:
 *
 * - A failure is a fault event that went past an alarm (emergency or worse); the exposure is the time
 *   the device spent in normal, the only state from which a new failure can start.
 * - Failures are taken as a Poisson process with a constant rate λ per device (an exponential time to
 *   failure). A device's own count is small, so its rate is shrunk towards its class: the prior on λ
 *   is a gamma distribution with the class's pooled rate λ_c = Σ failures / Σ exposure as its mean
 *   and the weight of `priorExposureDays` of exposure. The posterior is gamma with
 *   shape k + λ_c·τ and rate T + τ (k failures in exposure T, τ the prior weight), so
 *   λ̂ = (k + λ_c·τ) / (T + τ): a new device starts at its class's rate, and its own record takes
 *   over as it accumulates.
 * - P(failure within h) = 1 − exp(−λ̂·h). The interval is the posterior's central credible interval
 *   (gamma quantiles: (T + τ)λ ~ Gamma(k + λ_c·τ, 1), computed exactly, since a healthy device of a
 *   quiet class has a shape far below 1).
 */

export interface FailurePredictionOptions {
  horizonDays: number;
  /** Weight of the class prior, as days of exposure. */
  priorExposureDays: number;
  /** Central probability of the interval. */
  credibleLevel: number;
}

export const DEFAULT_FAILURE_PREDICTION_OPTIONS: Readonly<FailurePredictionOptions> = Object.freeze({
  horizonDays: 7,
  priorExposureDays: 14,
  credibleLevel: 0.95,
});

export interface FailurePrediction {
  deviceId: string;
  deviceClass: string;
  /** 1 for the device most likely to fail; ties share nothing (ordered by device id). */
  rank: number;
  failures: number;
  exposureDays: number;
  /** The class's pooled rate the estimate is shrunk towards, failures per year. */
  classRatePerYear: number;
  /** Posterior mean failure rate, per year. */
  ratePerYear: number;
  rateIntervalPerYear: { lower: number; upper: number };
  horizonDays: number;
  /** Probability of at least one failure within the horizon. */
  probability: number;
  probabilityInterval: { lower: number; upper: number };
}

export class FailurePredictionOptionError extends RangeError {
  readonly code = 'RECEIVERS.BAD_FAILURE_PREDICTION_OPTION';
}

/** One prediction per device, most likely to fail first. */
export function predictFailures(
  devices: readonly DeviceStatistics[],
  overrides: Partial<FailurePredictionOptions> = {},
): FailurePrediction[] {
  const options = { ...DEFAULT_FAILURE_PREDICTION_OPTIONS, ...overrides };
  if (!(options.horizonDays > 0) || !(options.priorExposureDays > 0)) {
    throw new FailurePredictionOptionError('horizonDays and priorExposureDays are positive');
  }
  if (!(options.credibleLevel > 0 && options.credibleLevel < 1)) {
    throw new FailurePredictionOptionError('credibleLevel lies in (0, 1)');
  }
  // Pooled rate per class, failures per day of exposure.
  const pooled = new Map<string, { failures: number; exposureDays: number }>();
  for (const device of devices) {
    const entry = pooled.get(device.deviceClass) ?? { failures: 0, exposureDays: 0 };
    entry.failures += device.failures;
    entry.exposureDays += device.exposureMs / DAY_MS;
    pooled.set(device.deviceClass, entry);
  }
  const tail = (1 - options.credibleLevel) / 2;
  const tau = options.priorExposureDays;
  const h = options.horizonDays;
  const predictions = devices.map((device) => {
    const classEntry = pooled.get(device.deviceClass) ?? { failures: 0, exposureDays: 0 };
    const classRate = classEntry.exposureDays > 0 ? classEntry.failures / classEntry.exposureDays : 0;
    const exposureDays = device.exposureMs / DAY_MS;
    const shape = device.failures + classRate * tau;
    const rate = exposureDays + tau;
    const mean = shape / rate;
    // No failure anywhere in the class: the posterior is a point mass at 0.
    const lower = shape > 0 ? gammaQuantile(tail, shape) / rate : 0;
    const upper = shape > 0 ? gammaQuantile(1 - tail, shape) / rate : 0;
    const probability = (lambda: number): number => 1 - exp(-lambda * h);
    return {
      deviceId: device.deviceId,
      deviceClass: device.deviceClass,
      rank: 0,
      failures: device.failures,
      exposureDays: round(exposureDays, 4),
      classRatePerYear: round(classRate * 365, 4),
      ratePerYear: round(mean * 365, 4),
      rateIntervalPerYear: { lower: round(lower * 365, 4), upper: round(upper * 365, 4) },
      horizonDays: h,
      probability: round(probability(mean), 6),
      probabilityInterval: { lower: round(probability(lower), 6), upper: round(probability(upper), 6) },
    };
  });
  predictions.sort(
    (x, y) =>
      y.probability - x.probability || (x.deviceId < y.deviceId ? -1 : x.deviceId > y.deviceId ? 1 : 0),
  );
  predictions.forEach((p, i) => {
    p.rank = i + 1;
  });
  return predictions;
}
