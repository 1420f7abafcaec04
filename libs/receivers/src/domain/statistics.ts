/**
 * The few distribution functions the analyses need, written out so that every receiver computes
 * the same numbers without a numerical library. Accuracy is far beyond what the decisions use.
 */

// Bound once: inside jest's vm context every global lookup such as `Math` is slow, and these run in loops.
const { abs, exp, log, sqrt } = Math;

/** Standard normal CDF, Φ(z) (Abramowitz & Stegun 26.2.17, absolute error below 7.5e-8). */
export function normalCdf(z: number): number {
  if (z === Number.POSITIVE_INFINITY) {
    return 1;
  }
  if (z === Number.NEGATIVE_INFINITY) {
    return 0;
  }
  const t = 1 / (1 + 0.2316419 * abs(z));
  const density = 0.3989422804014327 * exp((-z * z) / 2);
  const tail =
    density *
    t *
    (0.31938153 + t * (-0.356563782 + t * (1.781477937 + t * (-1.821255978 + t * 1.330274429))));
  return z >= 0 ? 1 - tail : tail;
}

/** Standard normal quantile, Φ⁻¹(p) for 0 < p < 1 (Acklam's rational approximation, relative error 1.2e-9). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) {
    throw new RangeError(`normalQuantile needs 0 < p < 1, got ${p}`);
  }
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716,
    2.506628277459239,
  ];
  const b = [
    -54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572,
  ];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const [a0, a1, a2, a3, a4, a5] = a as [number, number, number, number, number, number];
  const [b0, b1, b2, b3, b4] = b as [number, number, number, number, number];
  const [c0, c1, c2, c3, c4, c5] = c as [number, number, number, number, number, number];
  const [d0, d1, d2, d3] = d as [number, number, number, number];
  const low = 0.02425;
  if (p < low) {
    const q = sqrt(-2 * log(p));
    return (
      (((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) /
      ((((d0 * q + d1) * q + d2) * q + d3) * q + 1)
    );
  }
  if (p > 1 - low) {
    const q = sqrt(-2 * log(1 - p));
    return (
      -(((((c0 * q + c1) * q + c2) * q + c3) * q + c4) * q + c5) /
      ((((d0 * q + d1) * q + d2) * q + d3) * q + 1)
    );
  }
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a0 * r + a1) * r + a2) * r + a3) * r + a4) * r + a5) * q) /
    (((((b0 * r + b1) * r + b2) * r + b3) * r + b4) * r + 1)
  );
}

/**
 * Chi-square quantile with ν degrees of freedom (Wilson-Hilferty: ν(1 − 2/9ν + z√(2/9ν))³), within a
 * few per cent from ν = 2 on; it serves the Poisson intervals of the failure prediction.
 */
export function chiSquareQuantile(p: number, degrees: number): number {
  if (degrees <= 0) {
    return 0;
  }
  const z = normalQuantile(p);
  const h = 2 / (9 * degrees);
  const cube = 1 - h + z * sqrt(h);
  return cube <= 0 ? 0 : degrees * cube * cube * cube;
}

/** Median of a list (the mean of the middle two for an even count); NaN for an empty list. */
export function median(values: readonly number[]): number {
  if (values.length === 0) {
    return Number.NaN;
  }
  const sorted = [...values].sort((x, y) => x - y);
  const middle = sorted.length >> 1;
  const upper = sorted[middle] as number;
  return sorted.length % 2 === 1 ? upper : ((sorted[middle - 1] as number) + upper) / 2;
}

export function round(value: number, decimals: number): number {
  const scale = 10 ** decimals;
  return Math.round(value * scale) / scale;
}
