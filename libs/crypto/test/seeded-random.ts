import { createHash } from 'node:crypto';

import type { RandomSource } from '../src/random';

/**
 * Deterministic "randomness" for known-answer vectors and reproducible tests: SHA-256 in counter mode
 * over a seed. Test-only: it lives outside src/, so no production build contains it, and the public
 * API has no parameter that would accept it.
 */
export function seededRandom(seed: string): RandomSource {
  let counter = 0n;
  return {
    bytes(length: number): Uint8Array {
      const out = new Uint8Array(length);
      for (let offset = 0; offset < length; offset += 32) {
        const block = Buffer.alloc(8);
        block.writeBigUInt64BE(counter);
        counter += 1n;
        const digest = createHash('sha256').update('CBSG-TEST-DRBG').update(seed).update(block).digest();
        out.set(digest.subarray(0, Math.min(32, length - offset)), offset);
      }
      return out;
    },
  };
}
