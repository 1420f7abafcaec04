import fc from 'fast-check';

import { CryptoError } from './errors';
import { initCrypto, mcl, ready } from './mcl';
import { scalarOf, SecretScalar } from './secret';
import {
  decodeG1,
  decodeG1AffineTrusted,
  decodeG1Uncompressed,
  decodeG2,
  decodeG2Uncompressed,
  decodeReportG1,
  decodeReportG2,
  encodeG1,
  encodeG1Affine,
  encodeG1Uncompressed,
  encodeG2,
  encodeG2Uncompressed,
} from './points';
import { expectCode } from '../test/expect-error';
import vectors from '../test/vectors/points-invalid.json';
import uncompressedVectors from '../test/vectors/points-invalid-uncompressed.json';

beforeAll(async () => {
  await initCrypto();
});

const decode = (group: string, hex: string, check: 'full' | 'curve' = 'full'): unknown =>
  group === 'G1'
    ? decodeG1(Buffer.from(hex, 'hex'), 'point', check)
    : decodeG2(Buffer.from(hex, 'hex'), 'point', check);

const decodeUncompressed = (group: string, hex: string, check: 'full' | 'curve' = 'full'): unknown =>
  group === 'G1'
    ? decodeG1Uncompressed(Buffer.from(hex, 'hex'), 'point', check)
    : decodeG2Uncompressed(Buffer.from(hex, 'hex'), 'point', check);

describe('uncompressed point decoding (report version 2)', () => {
  it.each(uncompressedVectors.map((v) => [v.group, v.name, v.code, v.hex] as const))(
    'given a %s encoding (%s) when decoded in full should give %s',
    (group, _name, code, hex) => {
      if (code === 'OK') {
        expect(() => decodeUncompressed(group, hex)).not.toThrow();
      } else {
        expectCode(() => decodeUncompressed(group, hex), code);
      }
    },
  );

  it('given a curve point outside the subgroup when decoded curve-only should be accepted, and rejected in full', () => {
    const outside = uncompressedVectors.filter((x) => x.code === 'CRYPTO.POINT_NOT_IN_SUBGROUP');
    expect(outside.map((v) => v.group)).toEqual(['G1', 'G2']);
    for (const v of outside) {
      expect(() => decodeUncompressed(v.group, v.hex, 'curve')).not.toThrow();
      expectCode(() => decodeUncompressed(v.group, v.hex, 'full'), v.code);
    }
  });

  it('given random points when encoded uncompressed should decode to the same points, in either form a report may use', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), (seed) => {
        const s = new mcl.Fr();
        s.setBigEndianMod(seed);
        fc.pre(!s.isZero());
        const { P1, P2 } = ready();
        const g1 = mcl.mul(P1, s);
        const g2 = mcl.mul(P2, s);
        const g1Bytes = encodeG1Uncompressed(g1);
        const g2Bytes = encodeG2Uncompressed(g2);
        expect(g1Bytes).toHaveLength(96);
        expect(g2Bytes).toHaveLength(192);
        // The x coordinate is the compressed encoding without its flags.
        expect(Buffer.from(g1Bytes.subarray(0, 48))).toEqual(
          Buffer.from(encodeG1(g1)).fill(encodeG1(g1)[0]! & 0x1f, 0, 1),
        );
        expect(Buffer.from(g2Bytes.subarray(0, 96))).toEqual(
          Buffer.from(encodeG2(g2)).fill(encodeG2(g2)[0]! & 0x1f, 0, 1),
        );
        expect(decodeReportG1(g1Bytes, 'W').isEqual(g1)).toBe(true);
        expect(decodeReportG2(g2Bytes, 'T').isEqual(g2)).toBe(true);
        expect(decodeReportG1(encodeG1(g1), 'W').isEqual(g1)).toBe(true);
        expect(decodeReportG2(encodeG2(g2), 'T').isEqual(g2)).toBe(true);
      }),
      { numRuns: 20 },
    );
  });
});

describe('point decoding', () => {
  it.each(vectors.map((v) => [v.group, v.name, v.code, v.hex] as const))(
    'given a %s encoding (%s) when decoded in full should give %s',
    (group, _name, code, hex) => {
      if (code === 'OK') {
        expect(() => decode(group, hex)).not.toThrow();
      } else {
        expectCode(() => decode(group, hex), code);
      }
    },
  );

  it('given a curve point outside the subgroup when decoded for a node (curve only) should be accepted, and rejected in full', () => {
    for (const v of vectors.filter((x) => x.code === 'CRYPTO.POINT_NOT_IN_SUBGROUP')) {
      expect(() => decode(v.group, v.hex, 'curve')).not.toThrow();
      expectCode(() => decode(v.group, v.hex, 'full'), v.code);
    }
  });

  it('given the identity when decoded with any check level should be rejected', () => {
    for (const v of vectors.filter((x) => x.code === 'CRYPTO.POINT_IS_IDENTITY')) {
      expectCode(() => decode(v.group, v.hex, 'curve'), v.code);
    }
  });

  it('given random multiples of the generators when encoded and decoded should round-trip', () => {
    const g1 = decodeG1(Buffer.from(vectors[0]?.hex ?? '', 'hex'), 'P1');
    const g2 = decodeG2(Buffer.from(vectors.find((v) => v.group === 'G2')?.hex ?? '', 'hex'), 'P2');
    for (let i = 0; i < 5; i++) {
      const s = new mcl.Fr();
      s.setByCSPRNG();
      const p = mcl.mul(g1, s);
      const q = mcl.mul(g2, s);
      expect(decodeG1(encodeG1(p), 'p').isEqual(p)).toBe(true);
      expect(decodeG2(encodeG2(q), 'q').isEqual(q)).toBe(true);
    }
  });

  it('given the affine storage form when read back should round-trip, and reject off-curve or out-of-range coordinates', () => {
    const p = mcl.mul(
      decodeG1(Buffer.from(vectors[0]?.hex ?? '', 'hex'), 'P1'),
      scalarOf(SecretScalar.random()),
    );
    const stored = encodeG1Affine(p);
    expect(decodeG1AffineTrusted(stored, 'p').isEqual(p)).toBe(true);
    const offCurve = Uint8Array.from(stored);
    offCurve[95] = (offCurve[95] ?? 0) ^ 1;
    expectCode(() => decodeG1AffineTrusted(offCurve, 'p'), 'CRYPTO.POINT_NOT_ON_CURVE');
    const big = Uint8Array.from(stored);
    big.fill(0xff, 0, 48);
    expectCode(() => decodeG1AffineTrusted(big, 'p'), 'CRYPTO.MALFORMED_ENCODING');
    expectCode(() => decodeG1AffineTrusted(stored.subarray(1), 'p'), 'CRYPTO.ENCODING_TRUNCATED');
  });

  it('given arbitrary bytes when decoded should either succeed or fail with a typed crypto error, never anything else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 100 }), fc.boolean(), (bytes, g1) => {
        try {
          if (g1) {
            decodeG1(bytes, 'random');
          } else {
            decodeG2(bytes, 'random');
          }
        } catch (e) {
          expect(e).toBeInstanceOf(CryptoError);
        }
      }),
      { numRuns: 300 },
    );
  });
});
