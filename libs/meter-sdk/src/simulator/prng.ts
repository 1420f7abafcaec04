/**
 * Deterministic hashing and pseudo-random numbers for the simulator. Not cryptographic: they only
 * have to be fast, well mixed and identical everywhere, so that any party can regenerate a meter's
 * readings from (seed, meter id, time slot). The integer parts use Math.imul and 32-bit operators,
 * which ECMAScript defines exactly; the Gaussian draws use Math.log/cos/sqrt, which V8 computes
 * with the same fdlibm code on every platform (another engine could differ in the last bit, which
 * the readings' rounding hides almost always).
 */

// Bound once: inside a vm context (jest's test environment) every global lookup such as `Math` goes
// through an interceptor that makes it tens of times slower, and the model makes many per reading.
const { cos, exp, floor, imul, log, max, min, PI, sqrt } = Math;

const TWO_POW_32 = 4_294_967_296;

/** The murmur3 finaliser: every input bit flips each output bit with probability about 1/2. */
function fmix32(input: number): number {
  let h = input;
  h ^= h >>> 16;
  h = imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** 32-bit FNV-1a over the string's UTF-16 code units, finalised for avalanche. */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = imul(h, 0x01000193);
  }
  return fmix32(h);
}

/**
 * The two 32-bit words of a safe integer (low, high), so that values past 2^32 (seeds, slot numbers
 * of a fine interval) still key distinct streams.
 */
export function words(value: number): [number, number] {
  return [value >>> 0, floor(value / TWO_POW_32) >>> 0];
}

/** Murmur3-style combination of 32-bit words into one key; the order of the words matters. */
export function mixWords(...input: number[]): number {
  let h = 0x9747b28c;
  for (const word of input) {
    let k = imul(word | 0, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (imul(h, 5) + 0xe6546b64) | 0;
  }
  return fmix32(h ^ input.length);
}

/**
 * mulberry32: a 32-bit state stepped by a Weyl sequence (period 2^32), statistically ample for the
 * few dozen numbers each stream yields. Every stream is keyed by mixWords from what it describes
 * (meter, slot, purpose), so no value depends on the order in which readings are asked for.
 */
export class Rng {
  #state: number;

  constructor(key: number) {
    this.#state = key | 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) | 0;
    let t = this.#state;
    t = imul(t ^ (t >>> 15), t | 1);
    t ^= t + imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / TWO_POW_32;
  }

  uniform(low: number, high: number): number {
    return low + (high - low) * this.next();
  }

  /** Uniform on a log scale: for quantities spread over orders of magnitude (a shop or a mall). */
  logUniform(low: number, high: number): number {
    return exp(this.uniform(log(low), log(high)));
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return floor(this.next() * n);
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  /** Standard normal (Box-Muller). Always consumes two uniforms, so the draw order stays fixed. */
  normal(): number {
    const u1 = 1 - this.next();
    const u2 = this.next();
    return sqrt(-2 * log(u1)) * cos(2 * PI * u2);
  }

  /** A normal deviate clipped to ±limit standard deviations: no absurd outliers in physical values. */
  clippedNormal(limit: number): number {
    return max(-limit, min(limit, this.normal()));
  }

  pick<T>(items: readonly T[]): T {
    const item = items[this.int(items.length)];
    if (item === undefined) {
      throw new RangeError('cannot pick from an empty list');
    }
    return item;
  }
}
