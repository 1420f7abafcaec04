import { inspect } from 'node:util';

import {
  reviveCryptoError,
  CiphertextTamperedError,
  CryptoError,
  KeystorePermissionsError,
  WorkerTaskError,
} from './errors';
import { initCrypto } from './mcl';
import {
  MeterPrivateKey,
  ReceiverPrivateKey,
  ReceiverPublicKey,
  RegisteredMeter,
  TrustedMeterKeys,
} from './keys';
import { REDACTED, SecretScalar } from './secret';
import { verifyReport } from './signature';
import { MeterSigncrypter } from './signcrypt';
import { extractPartialKey, generateKeyPair, setupSystem } from './system';
import { ShareDecryptor } from './unsigncrypt';
import { expectCode } from '../test/expect-error';
import vectors from '../test/vectors/points-invalid.json';

beforeAll(async () => {
  await initCrypto();
});

describe('registered keys', () => {
  it('given a registered meter when stored and read back as trusted bytes should verify the same reports', () => {
    const { params, masterKey } = setupSystem();
    const own = generateKeyPair();
    const key = MeterPrivateKey.assemble(params, own.secret, extractPartialKey(masterKey, params, 'meter-9'));
    const registered = RegisteredMeter.register(params, {
      id: 'meter-9',
      publicKey: key.publicKey,
      alpha: key.alpha,
    });
    const restored = RegisteredMeter.fromTrustedBytes(registered.toBytes());
    expect(restored.identityKey).toEqual(registered.identityKey);
    const rc = generateKeyPair();
    const receiver = ReceiverPublicKey.register(params, { id: 'cc', publicKey: rc.publicKey });
    const report = MeterSigncrypter.create(params, key, {
      dimensionCount: 1,
      receivers: [{ receiver, dimensions: [0] }],
    }).signcrypt([Uint8Array.of(1)], 1_795_000_000_000);
    expect(verifyReport(params, report, restored)).toEqual({ valid: true });
    const restoredReceiver = ReceiverPublicKey.fromTrustedBytes(params, receiver.toBytes());
    expect(restoredReceiver.fingerprint).toEqual(receiver.fingerprint);
    expect(restoredReceiver.index).toBe(receiver.index);
  });

  it('given stored meter keys when read through the cache should decode each key once and never serve a replaced key', () => {
    const { params, masterKey } = setupSystem();
    const registeredKey = (id: string) => {
      const key = MeterPrivateKey.assemble(
        params,
        generateKeyPair().secret,
        extractPartialKey(masterKey, params, id),
      );
      return RegisteredMeter.register(params, { id, publicKey: key.publicKey, alpha: key.alpha }).toBytes();
    };
    const cache = new TrustedMeterKeys(2);
    const first = registeredKey('meter-1');
    const decoded = cache.get(first);
    expect(cache.get(Uint8Array.from(first))).toBe(decoded);
    const rekeyed = registeredKey('meter-1');
    expect(cache.get(rekeyed).publicKey).not.toEqual(decoded.publicKey);
    cache.get(registeredKey('meter-2')); // the third key drops the least recently used, the first
    const again = cache.get(first);
    expect(again).not.toBe(decoded);
    expect(again.identityKey).toEqual(decoded.identityKey);
  });

  it('given invalid public keys or alpha when registering should fail with the point errors', () => {
    const { params } = setupSystem();
    const good = generateKeyPair().publicKey;
    for (const v of vectors.filter((x) => x.group === 'G1' && x.code !== 'OK')) {
      const bad = Buffer.from(v.hex, 'hex');
      expectCode(() => RegisteredMeter.register(params, { id: 'm', publicKey: bad, alpha: good }), v.code);
      expectCode(() => RegisteredMeter.register(params, { id: 'm', publicKey: good, alpha: bad }), v.code);
      expectCode(() => ReceiverPublicKey.register(params, { id: 'r', publicKey: bad }), v.code);
    }
  });

  it('given a receiver secret that is not the registered key when creating the private key should fail with CRYPTO.KEY_MISMATCH', () => {
    const { params } = setupSystem();
    const registered = generateKeyPair().publicKey;
    expectCode(
      () => ReceiverPrivateKey.create(params, 'cc', SecretScalar.random(), registered),
      'CRYPTO.KEY_MISMATCH',
    );
  });

  it('given a meter secret and a partial key for another identity when assembling should fail with CRYPTO.PARTIAL_KEY_INVALID', () => {
    const { params, masterKey } = setupSystem();
    const partial = extractPartialKey(masterKey, params, 'meter-1');
    expectCode(
      () => MeterPrivateKey.assemble(params, SecretScalar.random(), { ...partial, id: 'meter-2' }),
      'CRYPTO.PARTIAL_KEY_INVALID',
    );
  });

  it('given private key objects when printed should not show their secrets', () => {
    const { params, masterKey } = setupSystem();
    const own = generateKeyPair();
    const key = MeterPrivateKey.assemble(params, own.secret, extractPartialKey(masterKey, params, 'meter-1'));
    const receiver = ReceiverPrivateKey.create(params, 'cc', own.secret);
    const secretHex = Buffer.from(own.secret.exposeBytes()).toString('hex');
    for (const text of [
      JSON.stringify(key),
      JSON.stringify(receiver),
      inspect(key),
      inspect(new ShareDecryptor(receiver), { depth: 5 }),
    ]) {
      expect(text).not.toContain(secretHex);
    }
    expect(JSON.stringify(receiver)).toContain(REDACTED);
  });
});

describe('errors across threads', () => {
  it('given a serialised error code when revived should be an instance of the same class with the same code', () => {
    const revived = reviveCryptoError('CRYPTO.CIPHERTEXT_TAMPERED', 'msg', { receiverId: 'cc' });
    expect(revived).toBeInstanceOf(CiphertextTamperedError);
    expect(revived).toBeInstanceOf(CryptoError);
    expect([revived.code, revived.message, revived.details]).toEqual([
      'CRYPTO.CIPHERTEXT_TAMPERED',
      'msg',
      { receiverId: 'cc' },
    ]);
    expect(reviveCryptoError('CRYPTO.KEYSTORE_PERMISSIONS', 'm', {})).toBeInstanceOf(
      KeystorePermissionsError,
    );
    expect(reviveCryptoError('SOMETHING.ELSE', 'm', {})).toBeInstanceOf(WorkerTaskError);
  });
});
