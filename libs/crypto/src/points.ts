import { expectLength } from './bytes';
import {
  MalformedEncodingError,
  PointIsIdentityError,
  PointNotInSubgroupError,
  PointNotOnCurveError,
} from './errors';
import { G1_BYTES, G2_BYTES, mcl, ready, withoutOrderCheck } from './mcl';

/**
 * How much of a point's validity to establish while decoding it (DESIGN.md section 2, fix 4):
 * - `full`: on the curve, in the prime-order subgroup, not the identity. Every point that comes from
 *   outside and is used in a verification equation or with a secret key.
 * - `curve`: on the curve and not the identity, no subgroup check. A node stores D under the meter's
 *   signature and only needs to know it is a curve point; the receiver checks D fully itself.
 * - `trusted`: as `curve`. For points read back from our own storage, which were checked in full
 *   when they were first accepted (registration): the subgroup check is the expensive part (about
 *   0.22 ms in G1, 0.3 ms in G2) and repeating it on every load buys nothing.
 */
export type PointCheck = 'full' | 'curve' | 'trusted';

/** The field modulus p of BLS12-381, big-endian. */
const P_BYTES = Buffer.from(
  '1a0111ea397fe69a4b1ba7b6434bacd764774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaab',
  'hex',
);

const FLAG_COMPRESSED = 0x80;
const FLAG_INFINITY = 0x40;
const FLAG_SIGN = 0x20;

/** Is the 48-byte big-endian coordinate (flag bits already cleared) below p? */
function belowP(bytes: Uint8Array, offset: number, clearFlags: boolean): boolean {
  for (let i = 0; i < 48; i++) {
    let b = bytes[offset + i] ?? 0;
    if (i === 0 && clearFlags) {
      b &= 0x1f;
    }
    const pb = P_BYTES[i] ?? 0;
    if (b !== pb) {
      return b < pb;
    }
  }
  return false;
}

/**
 * The checks that need no curve arithmetic, in the ZCash encoding (IETF BLS, RFC 9380 users): the
 * compression flag as the form requires, the infinity flag only on the all-zero identity encoding,
 * no sign flag on an uncompressed point, coordinates < p.
 */
function checkEncoding(
  bytes: Uint8Array,
  size: number,
  what: string,
  form: 'compressed' | 'uncompressed',
): void {
  expectLength(bytes, size, what);
  const first = bytes[0] ?? 0;
  const compressed = (first & FLAG_COMPRESSED) !== 0;
  if (form === 'compressed' && !compressed) {
    throw new MalformedEncodingError(what, 'only the compressed encoding is accepted');
  }
  if (form === 'uncompressed' && compressed) {
    throw new MalformedEncodingError(what, 'a compressed encoding where the uncompressed one is required');
  }
  if ((first & FLAG_INFINITY) !== 0) {
    const restZero = (first & 0x3f) === 0 && bytes.subarray(1).every((b) => b === 0);
    if (restZero) {
      throw new PointIsIdentityError(what);
    }
    throw new MalformedEncodingError(what, 'infinity flag set on a non-zero encoding');
  }
  if (form === 'uncompressed' && (first & FLAG_SIGN) !== 0) {
    throw new MalformedEncodingError(what, 'sign flag set on an uncompressed encoding');
  }
  for (let offset = 0; offset < size; offset += 48) {
    if (!belowP(bytes, offset, offset === 0)) {
      throw new MalformedEncodingError(what, 'coordinate not below the field modulus');
    }
  }
}

export function decodeG1(bytes: Uint8Array, what: string, check: PointCheck = 'full'): mcl.G1 {
  ready();
  checkEncoding(bytes, G1_BYTES, what, 'compressed');
  const point = new mcl.G1();
  try {
    withoutOrderCheck(() => point.deserialize(bytes));
  } catch {
    throw new PointNotOnCurveError(what);
  }
  if (check === 'full' && !point.isValidOrder()) {
    throw new PointNotInSubgroupError(what);
  }
  return point;
}

export function decodeG2(bytes: Uint8Array, what: string, check: PointCheck = 'full'): mcl.G2 {
  ready();
  checkEncoding(bytes, G2_BYTES, what, 'compressed');
  const point = new mcl.G2();
  try {
    withoutOrderCheck(() => point.deserialize(bytes));
  } catch {
    throw new PointNotOnCurveError(what);
  }
  if (check === 'full' && !point.isValidOrder()) {
    throw new PointNotInSubgroupError(what);
  }
  return point;
}

/**
 * The uncompressed ZCash encoding: x || y, big-endian, each G2 coordinate imaginary part first, no
 * flag set (a coordinate below p leaves the three flag bits clear). Twice the size of the compressed
 * form, but reading it back needs no square root: about 10 us instead of 75 in G1 and 17 us instead
 * of 187 in G2. Reports of version 2 carry D, W and T this way (report.ts), and our own storage keeps
 * registered keys this way.
 */
export function encodeG1Uncompressed(point: mcl.G1): Uint8Array {
  return affineBytes(mcl.normalize(point), G1_BYTES);
}

export function encodeG2Uncompressed(point: mcl.G2): Uint8Array {
  return affineBytes(mcl.normalize(point), G2_BYTES);
}

function affineBytes(n: mcl.G1 | mcl.G2, coordinateBytes: number): Uint8Array {
  const out = new Uint8Array(2 * coordinateBytes);
  if (n.isZero()) {
    out[0] = FLAG_INFINITY;
    return out;
  }
  out.set(n.getX().serialize(), 0);
  out.set(n.getY().serialize(), coordinateBytes);
  return out;
}

export function decodeG1Uncompressed(bytes: Uint8Array, what: string, check: PointCheck = 'full'): mcl.G1 {
  ready();
  checkEncoding(bytes, 2 * G1_BYTES, what, 'uncompressed');
  const x = new mcl.Fp();
  const y = new mcl.Fp();
  x.deserialize(bytes.subarray(0, G1_BYTES));
  y.deserialize(bytes.subarray(G1_BYTES));
  const one = new mcl.Fp();
  one.setInt(1);
  const point = new mcl.G1();
  point.setX(x);
  point.setY(y);
  point.setZ(one);
  return checkAffinePoint(point, what, check);
}

export function decodeG2Uncompressed(bytes: Uint8Array, what: string, check: PointCheck = 'full'): mcl.G2 {
  ready();
  checkEncoding(bytes, 2 * G2_BYTES, what, 'uncompressed');
  const x = new mcl.Fp2();
  const y = new mcl.Fp2();
  x.deserialize(bytes.subarray(0, G2_BYTES));
  y.deserialize(bytes.subarray(G2_BYTES));
  const one = new mcl.Fp2();
  one.setInt(1, 0);
  const point = new mcl.G2();
  point.setX(x);
  point.setY(y);
  point.setZ(one);
  return checkAffinePoint(point, what, check);
}

function checkAffinePoint<P extends mcl.G1 | mcl.G2>(point: P, what: string, check: PointCheck): P {
  if (!withoutOrderCheck(() => point.isValid())) {
    throw new PointNotOnCurveError(what);
  }
  if (check === 'full' && !point.isValidOrder()) {
    throw new PointNotInSubgroupError(what);
  }
  return point;
}

/** A report's G1 point (D, W): compressed in version 1, uncompressed in version 2 (report.ts fixes the length). */
export function decodeReportG1(bytes: Uint8Array, what: string, check: PointCheck = 'full'): mcl.G1 {
  return bytes.length === 2 * G1_BYTES
    ? decodeG1Uncompressed(bytes, what, check)
    : decodeG1(bytes, what, check);
}

/** A report's G2 point (T), as decodeReportG1. */
export function decodeReportG2(bytes: Uint8Array, what: string, check: PointCheck = 'full'): mcl.G2 {
  return bytes.length === 2 * G2_BYTES
    ? decodeG2Uncompressed(bytes, what, check)
    : decodeG2(bytes, what, check);
}

/** A report's G1 point in the encoding of its wire version: uncompressed from version 2 on. */
export function encodeReportG1(point: mcl.G1, version: number): Uint8Array {
  return version >= 2 ? encodeG1Uncompressed(point) : encodeG1(point);
}

/** A report's G2 point (T), as encodeReportG1. */
export function encodeReportG2(point: mcl.G2, version: number): Uint8Array {
  return version >= 2 ? encodeG2Uncompressed(point) : encodeG2(point);
}

/** Our own storage of a registered key (checked in full when first accepted): the uncompressed form. */
export function encodeG1Affine(point: mcl.G1): Uint8Array {
  return encodeG1Uncompressed(point);
}

/** Read an encodeG1Affine point from our own storage: coordinates < p and on the curve; no subgroup check. */
export function decodeG1AffineTrusted(bytes: Uint8Array, what: string): mcl.G1 {
  return decodeG1Uncompressed(bytes, what, 'trusted');
}

/** Compressed ZCash encoding (48 bytes). */
export function encodeG1(point: mcl.G1): Uint8Array {
  return point.serialize();
}

/** Compressed ZCash encoding (96 bytes, x = x1 || x0 with the imaginary part first). */
export function encodeG2(point: mcl.G2): Uint8Array {
  return point.serialize();
}

export { FLAG_COMPRESSED, FLAG_INFINITY, FLAG_SIGN };
