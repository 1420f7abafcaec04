import { toHex } from './bytes';
import { h1 } from './hash';
import { initCrypto, mcl, ready } from './mcl';
import { decodeG1 } from './points';
import { scalarOf, SecretScalar } from './secret';
import {
  checkMasterKey,
  checkPartialKey,
  extractPartialKey,
  generateKeyPair,
  identityPoint,
  setupSystem,
  SystemParams,
} from './system';
import { expectCode } from '../test/expect-error';

beforeAll(async () => {
  await initCrypto();
});

describe('system setup', () => {
  it('given a fresh setup when its parameters are read back from bytes and JSON should pass the pairing consistency check', () => {
    const { params, masterKey } = setupSystem();
    const fromBytes = SystemParams.fromBytes(params.toBytes());
    const fromJson = SystemParams.fromJSON(JSON.parse(JSON.stringify(params)));
    expect(fromBytes.q).toEqual(params.q);
    expect(fromJson.toBytes()).toEqual(params.toBytes());
    expect(() => checkMasterKey(params, masterKey)).not.toThrow();
  });

  it('given Ypub1 and Ypub2 of different master keys when checked should fail with CRYPTO.SYSTEM_PARAMS_INCONSISTENT', () => {
    const a = setupSystem().params;
    const b = setupSystem().params;
    const mixed = new Uint8Array([...a.ypub1, ...b.ypub2]);
    expectCode(() => SystemParams.fromBytes(mixed), 'CRYPTO.SYSTEM_PARAMS_INCONSISTENT');
  });

  it('given JSON with an unknown field or bad hex when parsed should be rejected', () => {
    const json = setupSystem().params.toJSON();
    expectCode(() => SystemParams.fromJSON({ ...json, extra: 1 }), 'CRYPTO.MALFORMED_ENCODING');
    expectCode(
      () => SystemParams.fromJSON({ ...json, ypub1: json.ypub1.toUpperCase() }),
      'CRYPTO.MALFORMED_ENCODING',
    );
    expectCode(
      () => SystemParams.fromJSON({ ...json, ypub1: json.ypub1.slice(2) }),
      'CRYPTO.ENCODING_TRUNCATED',
    );
  });

  it('given a master key of another system when checked should fail with CRYPTO.KEY_MISMATCH', () => {
    expectCode(() => checkMasterKey(setupSystem().params, setupSystem().masterKey), 'CRYPTO.KEY_MISMATCH');
  });
});

describe('partial private keys', () => {
  it('given an extracted partial key when the holder checks it should hold h*P1 == alpha + eta*Ypub1 == A', () => {
    const { params, masterKey } = setupSystem();
    const partial = extractPartialKey(masterKey, params, 'meter-7');
    expect(() => checkPartialKey(params, partial)).not.toThrow();
    const { P1 } = ready();
    const alpha = decodeG1(partial.alpha, 'alpha');
    const a = identityPoint(params, 'meter-7', alpha, partial.alpha);
    expect(mcl.mul(P1, scalarOf(partial.h)).isEqual(a)).toBe(true);
    // eta is H1(ID || alpha): another ID gives another A.
    expect(toHex(h1('meter-8', partial.alpha).serialize())).not.toBe(
      toHex(h1('meter-7', partial.alpha).serialize()),
    );
  });

  it('given a partial key for another identity or a wrong h when the holder checks it should fail with CRYPTO.PARTIAL_KEY_INVALID', () => {
    const { params, masterKey } = setupSystem();
    const partial = extractPartialKey(masterKey, params, 'meter-7');
    expectCode(() => checkPartialKey(params, { ...partial, id: 'meter-8' }), 'CRYPTO.PARTIAL_KEY_INVALID');
    expectCode(
      () => checkPartialKey(params, { ...partial, h: SecretScalar.random() }),
      'CRYPTO.PARTIAL_KEY_INVALID',
    );
    const other = setupSystem();
    expectCode(() => checkPartialKey(other.params, partial), 'CRYPTO.PARTIAL_KEY_INVALID');
  });

  it('given an invalid identifier when extracting should fail with CRYPTO.INVALID_IDENTIFIER', () => {
    const { params, masterKey } = setupSystem();
    for (const id of ['', ' meter', 'mètre', 'a'.repeat(65), 'x y']) {
      expectCode(() => extractPartialKey(masterKey, params, id), 'CRYPTO.INVALID_IDENTIFIER');
    }
  });

  it('given generated key pairs when compared should be distinct with Y = x*P1', () => {
    const a = generateKeyPair();
    const b = generateKeyPair();
    expect(a.publicKey).not.toEqual(b.publicKey);
    const { P1 } = ready();
    expect(toHex(mcl.mul(P1, scalarOf(a.secret)).serialize())).toBe(toHex(a.publicKey));
  });
});
