import { inspect } from 'node:util';

import { ScalarOutOfRangeError, EncodingTruncatedError, EncodingOversizedError } from './errors';
import { initCrypto } from './mcl';
import { REDACTED, SecretScalar } from './secret';

const Q_HEX = '73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001';

beforeAll(async () => {
  await initCrypto();
});

describe('SecretScalar', () => {
  it('given a secret when printed in every usual way should show only the redacted marker', () => {
    const s = SecretScalar.random();
    const hex = Buffer.from(s.exposeBytes()).toString('hex');
    const renderings = [
      inspect(s),
      inspect({ nested: { s } }, { depth: 10, showHidden: true }),
      JSON.stringify({ s }),
      String(s),
      // eslint-disable-next-line @typescript-eslint/restrict-template-expressions -- the point of the test
      `${s}`,
      s.toString(),
    ];
    for (const r of renderings) {
      expect(r).toContain(REDACTED);
      expect(r).not.toContain(hex);
      expect(r).not.toContain(hex.slice(0, 16));
    }
  });

  it('given 32 bytes in range when decoded should round-trip through exposeBytes', () => {
    const s = SecretScalar.random();
    expect(SecretScalar.fromBytes(s.exposeBytes()).exposeBytes()).toEqual(s.exposeBytes());
  });

  it('given wrong-length key bytes when decoded should fail with the length errors', () => {
    expect(() => SecretScalar.fromBytes(new Uint8Array(31).fill(1))).toThrow(EncodingTruncatedError);
    expect(() => SecretScalar.fromBytes(new Uint8Array(33).fill(1))).toThrow(EncodingOversizedError);
  });

  it('given zero, q or a value above q when decoded should fail with CRYPTO.SCALAR_OUT_OF_RANGE', () => {
    const q = Buffer.from(Q_HEX, 'hex');
    const above = Buffer.from(q);
    above[31] = 5;
    for (const bad of [new Uint8Array(32), q, above, new Uint8Array(32).fill(0xff)]) {
      expect(() => SecretScalar.fromBytes(bad)).toThrow(ScalarOutOfRangeError);
    }
    const qMinus1 = Buffer.from(q);
    qMinus1[31] = 0;
    expect(() => SecretScalar.fromBytes(qMinus1)).not.toThrow();
  });

  it('given a destroyed secret when exposed should no longer hold the value', () => {
    const s = SecretScalar.random();
    s.destroy();
    expect(s.exposeBytes()).toEqual(new Uint8Array(32));
  });
});
