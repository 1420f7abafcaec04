import { randomFillSync } from 'node:crypto';

import { mcl } from './mcl';

/**
 * Where secret randomness comes from. Production code only ever uses `systemRandom` (the OS CSPRNG);
 * the public API (index.ts) has no way to pass another source. The seeded source that makes the
 * known-answer vectors reproducible lives under libs/crypto/test and is only reachable from the
 * library's own tests through the internal `...WithRandom` entry points.
 */
export interface RandomSource {
  bytes(length: number): Uint8Array;
}

export const systemRandom: RandomSource = {
  bytes(length: number): Uint8Array {
    return randomFillSync(new Uint8Array(length));
  },
};

/**
 * A uniform non-zero scalar mod q: 48 random bytes reduced mod q (the bias is below 2^-128, the
 * approach of RFC 9380 hash_to_field), retried on the negligible zero.
 */
export function randomScalar(rng: RandomSource): mcl.Fr {
  for (;;) {
    const s = new mcl.Fr();
    s.setBigEndianMod(rng.bytes(48));
    if (!s.isZero()) {
      return s;
    }
  }
}

/**
 * n batch weights of 64 bits each, non-zero, from the CSPRNG (DESIGN.md section 2, fix 3: unknown
 * to whoever submitted the reports). Short scalars keep the multi-scalar multiplications cheap.
 */
export function randomWeights64(n: number, rng: RandomSource = systemRandom): mcl.Fr[] {
  const raw = rng.bytes(8 * n);
  const out: mcl.Fr[] = new Array<mcl.Fr>(n);
  for (let i = 0; i < n; i++) {
    const chunk = raw.subarray(8 * i, 8 * i + 8);
    if (chunk.every((b) => b === 0)) {
      chunk[7] = 1;
    }
    const w = new mcl.Fr();
    w.setLittleEndian(chunk);
    out[i] = w;
  }
  return out;
}
