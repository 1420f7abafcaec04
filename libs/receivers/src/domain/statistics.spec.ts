import {
  chiSquareQuantile,
  gammaQuantile,
  logGamma,
  median,
  normalCdf,
  normalQuantile,
  regularizedLowerGamma,
} from './statistics';

describe('distribution functions', () => {
  it('given textbook points, when computed, should match the normal table', () => {
    expect(normalCdf(0)).toBeCloseTo(0.5, 7);
    expect(normalCdf(1.959964)).toBeCloseTo(0.975, 6);
    expect(normalCdf(-2.326348)).toBeCloseTo(0.01, 6);
    expect(normalQuantile(0.975)).toBeCloseTo(1.959964, 6);
    expect(normalQuantile(0.001)).toBeCloseTo(-3.090232, 5);
  });

  it('given a probability, when the quantile is fed back to the CDF, should return it', () => {
    for (const p of [0.0001, 0.01, 0.2, 0.5, 0.77, 0.999]) {
      expect(normalCdf(normalQuantile(p))).toBeCloseTo(p, 6);
    }
  });

  it('given chi-square table values, when computed, should match them to ten digits', () => {
    // R: qchisq(p, df).
    for (const [p, df, exact] of [
      [0.975, 2, 7.377758908227871],
      [0.025, 10, 3.246972780236841],
      [0.975, 20, 34.16960690283833],
      [0.025, 1, 0.000982069117175],
      [0.999, 1000, 1143.917],
    ] as const) {
      expect(Math.abs(chiSquareQuantile(p, df) / exact - 1)).toBeLessThan(1e-6);
    }
    expect(Math.abs(chiSquareQuantile(0.5, 100) / 99.33412923 - 1)).toBeLessThan(1e-8);
    expect(chiSquareQuantile(0.5, 0)).toBe(0);
  });

  it('given a small shape (a healthy class), when the gamma quantiles are taken, should bracket the mean and invert the CDF', () => {
    for (const shape of [0.02, 0.3, 1, 4.5, 60]) {
      const lower = gammaQuantile(0.025, shape);
      const upper = gammaQuantile(0.975, shape);
      expect(lower).toBeGreaterThan(0);
      expect(lower).toBeLessThan(shape); // the mean of Gamma(shape, 1)
      expect(upper).toBeGreaterThan(shape);
      expect(regularizedLowerGamma(shape, lower)).toBeCloseTo(0.025, 10);
      expect(regularizedLowerGamma(shape, upper)).toBeCloseTo(0.975, 10);
    }
    // Exponential (shape 1): P(1, x) = 1 - e^-x, so the median is ln 2.
    expect(gammaQuantile(0.5, 1)).toBeCloseTo(Math.LN2, 12);
    // Shape 0.001: the lower quantile, about 10^-1602, is below the smallest double, so it comes out
    // as 0 in effect; even the upper one lies under the mean (nearly all the mass is at 0).
    expect(gammaQuantile(0.025, 0.001)).toBeLessThan(1e-300);
    const upper = gammaQuantile(0.975, 0.001);
    expect(regularizedLowerGamma(0.001, upper)).toBeCloseTo(0.975, 10);
    expect(upper).toBeLessThan(0.001);
  });

  it('given known values of ln Γ, when computed, should match them', () => {
    expect(logGamma(0.5)).toBeCloseTo(Math.log(Math.sqrt(Math.PI)), 12);
    expect(logGamma(10)).toBeCloseTo(Math.log(362_880), 11);
    expect(logGamma(1)).toBeCloseTo(0, 12);
    expect(logGamma(0.01)).toBeCloseTo(4.599479878042022, 11);
  });

  it('given odd and even lists, when the median is taken, should pick the middle', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });
});
