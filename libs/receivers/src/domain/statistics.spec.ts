import { chiSquareQuantile, median, normalCdf, normalQuantile } from './statistics';

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

  it('given chi-square table values, when approximated, should be within 2 %', () => {
    // Exact: chi2(0.975; 2) = 7.3778, chi2(0.025; 10) = 3.2470, chi2(0.975; 20) = 34.1696.
    expect(chiSquareQuantile(0.975, 2) / 7.3778).toBeCloseTo(1, 1);
    expect(Math.abs(chiSquareQuantile(0.025, 10) / 3.247 - 1)).toBeLessThan(0.02);
    expect(Math.abs(chiSquareQuantile(0.975, 20) / 34.1696 - 1)).toBeLessThan(0.02);
    expect(chiSquareQuantile(0.5, 0)).toBe(0);
  });

  it('given odd and even lists, when the median is taken, should pick the middle', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });
});
