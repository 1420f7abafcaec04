import { RefusalCounter } from './refusal-counter';

describe('RefusalCounter', () => {
  const NOW = 1_800_000_000_000;

  it('given a client refused up to the limit in a window, should turn it away until the window ends, and let it in after', () => {
    const counter = new RefusalCounter(3, 10_000);
    for (let i = 0; i < 3; i++) {
      expect(counter.retryAfterSeconds('address 10.0.0.1', NOW + i)).toBe(0);
      counter.record('address 10.0.0.1', NOW + i);
    }
    expect(counter.retryAfterSeconds('address 10.0.0.1', NOW + 10)).toBe(10);
    expect(counter.retryAfterSeconds('address 10.0.0.1', NOW + 9_500)).toBe(1);
    // Another client is counted apart.
    expect(counter.retryAfterSeconds('address 10.0.0.2', NOW + 10)).toBe(0);
    expect(counter.retryAfterSeconds('address 10.0.0.1', NOW + 10_000)).toBe(0);
  });

  it('given more clients than it keeps, should forget the oldest first', () => {
    const counter = new RefusalCounter(1, 10_000, 2);
    counter.record('a', NOW);
    counter.record('b', NOW);
    counter.record('c', NOW);
    expect(counter.retryAfterSeconds('a', NOW)).toBe(0);
    expect(counter.retryAfterSeconds('b', NOW)).toBe(10);
    expect(counter.retryAfterSeconds('c', NOW)).toBe(10);
  });
});
