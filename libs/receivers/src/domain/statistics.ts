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
 * Chi-square quantile with ν degrees of freedom: χ²_ν = 2·Gamma(ν/2, 1). Exact to about 1e-12
 * relative for any ν > 0, including the small ν of a healthy device class (where an approximation
 * such as Wilson-Hilferty collapses to 0 and an interval would no longer hold its own estimate).
 */
export function chiSquareQuantile(p: number, degrees: number): number {
  if (degrees <= 0) {
    return 0;
  }
  return 2 * gammaQuantile(p, degrees / 2);
}

/**
 * The x with P(shape, x) = p for the gamma distribution of unit scale, by bisection on log x: the
 * lower quantiles of a small shape are tiny (about (p·Γ(shape + 1))^(1/shape)), far below where a
 * bisection on x itself would resolve them.
 */
export function gammaQuantile(p: number, shape: number): number {
  if (!(p > 0 && p < 1) || !(shape > 0)) {
    throw new RangeError(`gammaQuantile needs 0 < p < 1 and shape > 0, got p = ${p}, shape = ${shape}`);
  }
  let high = Math.max(1, 2 * shape);
  while (regularizedLowerGamma(shape, high) < p) {
    high *= 2;
  }
  let logLow = -745; // exp(-745) is the smallest double above 0
  let logHigh = log(high);
  for (let i = 0; i < 80; i += 1) {
    const middle = (logLow + logHigh) / 2;
    if (regularizedLowerGamma(shape, exp(middle)) < p) {
      logLow = middle;
    } else {
      logHigh = middle;
    }
  }
  return exp((logLow + logHigh) / 2);
}

/**
 * P(a, x) = γ(a, x) / Γ(a), the regularized lower incomplete gamma function: its power series below
 * a + 1 and the continued fraction of Q = 1 − P above (modified Lentz), as in Numerical Recipes 6.2.
 */
export function regularizedLowerGamma(a: number, x: number): number {
  if (x <= 0) {
    return 0;
  }
  const logPrefactor = a * log(x) - x - logGamma(a);
  if (x < a + 1) {
    let term = 1 / a;
    let sum = term;
    for (let n = 1; n < 1_000; n += 1) {
      term *= x / (a + n);
      sum += term;
      if (abs(term) < abs(sum) * 1e-16) {
        break;
      }
    }
    return sum * exp(logPrefactor);
  }
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let fraction = d;
  for (let n = 1; n < 1_000; n += 1) {
    const an = -n * (n - a);
    b += 2;
    d = an * d + b;
    d = abs(d) < tiny ? tiny : d;
    c = b + an / c;
    c = abs(c) < tiny ? tiny : c;
    d = 1 / d;
    const delta = d * c;
    fraction *= delta;
    if (abs(delta - 1) < 1e-16) {
      break;
    }
  }
  return 1 - exp(logPrefactor) * fraction;
}

/** ln Γ(x) for x > 0 (Lanczos, g = 7, nine coefficients: about 15 significant digits). */
export function logGamma(x: number): number {
  if (x < 0.5) {
    // Reflection: Γ(x)Γ(1 − x) = π / sin(πx).
    return log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  }
  const z = x - 1;
  let sum = LANCZOS[0]!;
  for (let i = 1; i < LANCZOS.length; i += 1) {
    sum += LANCZOS[i]! / (z + i);
  }
  const t = z + 7.5;
  return 0.5 * log(2 * Math.PI) + (z + 0.5) * log(t) - t + log(sum);
}

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

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
