import { mcl, MULVEC_CHUNK_G1, MULVEC_CHUNK_G2 } from './mcl';

/** sum scalars[i]*points[i] for i in [lo, hi), in chunks mcl's mulVec can take (mcl.ts). */
export function msmG1(
  points: readonly mcl.G1[],
  scalars: readonly mcl.Fr[],
  lo = 0,
  hi = points.length,
): mcl.G1 {
  let acc: mcl.G1 | undefined;
  for (let s = lo; s < hi; s += MULVEC_CHUNK_G1) {
    const e = Math.min(hi, s + MULVEC_CHUNK_G1);
    const part = mcl.mulVec(points.slice(s, e), scalars.slice(s, e));
    acc = acc === undefined ? part : mcl.add(acc, part);
  }
  return acc ?? new mcl.G1();
}

export function msmG2(
  points: readonly mcl.G2[],
  scalars: readonly mcl.Fr[],
  lo = 0,
  hi = points.length,
): mcl.G2 {
  let acc: mcl.G2 | undefined;
  for (let s = lo; s < hi; s += MULVEC_CHUNK_G2) {
    const e = Math.min(hi, s + MULVEC_CHUNK_G2);
    const part = mcl.mulVec(points.slice(s, e), scalars.slice(s, e));
    acc = acc === undefined ? part : mcl.add(acc, part);
  }
  return acc ?? new mcl.G2();
}
