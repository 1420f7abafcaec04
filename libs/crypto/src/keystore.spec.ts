import { chmod, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import {
  describeKeystore,
  describeKeystoreFile,
  KeystoreEntry,
  openKeystore,
  readKeystoreFile,
  sealKeystore,
  writeKeystoreFile,
} from './keystore';
import { initCrypto } from './mcl';
import { REDACTED, SecretScalar } from './secret';
import { extractPartialKey, generateKeyPair, setupSystem } from './system';
import { cryptoErrorOf, cryptoErrorOfAsync } from '../test/expect-error';

// N = 2^14 keeps the tests fast; the default (2^17) is what files get in production.
const FAST = { scrypt: { N: 2 ** 14, r: 8, p: 1 } };
let dir: string;

beforeAll(async () => {
  await initCrypto();
  dir = await mkdtemp(join(tmpdir(), 'cbsg-keystore-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function receiverEntry(): KeystoreEntry {
  const { params, masterKey } = setupSystem();
  const kp = generateKeyPair();
  return {
    kind: 'receiver',
    id: 'grid-operator',
    publicKey: kp.publicKey,
    key: kp.secret,
    partial: extractPartialKey(masterKey, params, 'grid-operator').h,
  };
}

describe('keystore', () => {
  it('given a CC master key when sealed and opened with the passphrase should give back the key and the parameters', async () => {
    const { params, masterKey } = setupSystem();
    const text = await sealKeystore(
      { kind: 'cc-master', id: 'cc', publicKey: params.toBytes(), key: masterKey },
      'correct horse battery',
      FAST,
    );
    const file = JSON.parse(text) as Record<string, unknown>;
    expect(Object.keys(file).sort()).toEqual([
      'cipher',
      'ciphertext',
      'format',
      'id',
      'kdf',
      'kind',
      'publicKey',
      'version',
    ]);
    expect(file).toMatchObject({
      format: 'cbsg-keystore',
      version: 1,
      kind: 'cc-master',
      kdf: { name: 'scrypt', N: 16384, r: 8, p: 1 },
    });
    expect(text).not.toContain(Buffer.from(masterKey.exposeBytes()).toString('hex'));
    const opened = await openKeystore(text, 'correct horse battery');
    expect(opened.key.exposeBytes()).toEqual(masterKey.exposeBytes());
    expect(opened.publicKey).toEqual(params.toBytes());
    expect(opened.partial).toBeUndefined();
    expect(JSON.stringify(opened)).toContain(REDACTED);
  });

  it('given a receiver key with its partial key when sealed and opened should give back both', async () => {
    const entry = receiverEntry();
    const opened = await openKeystore(await sealKeystore(entry, 'pass phrase', FAST), 'pass phrase');
    expect(opened.key.exposeBytes()).toEqual(entry.key.exposeBytes());
    expect(opened.partial?.exposeBytes()).toEqual(entry.partial?.exposeBytes());
  });

  it('given a wrong passphrase or a changed field when opening should fail with CRYPTO.KEYSTORE_WRONG_PASSPHRASE', async () => {
    const text = await sealKeystore(receiverEntry(), 'pass phrase', FAST);
    expect((await cryptoErrorOfAsync(() => openKeystore(text, 'pass phrasE'))).code).toBe(
      'CRYPTO.KEYSTORE_WRONG_PASSPHRASE',
    );
    const changedId = text.replace('"grid-operator"', '"grid-operator2"');
    expect((await cryptoErrorOfAsync(() => openKeystore(changedId, 'pass phrase'))).code).toBe(
      'CRYPTO.KEYSTORE_WRONG_PASSPHRASE',
    );
  });

  it('given malformed files or weakened scrypt parameters when opening should fail with CRYPTO.KEYSTORE_MALFORMED', async () => {
    const text = await sealKeystore(receiverEntry(), 'pass phrase', FAST);
    const file = JSON.parse(text) as { kdf: { N: number }; version: number };
    const variants = [
      'not json',
      JSON.stringify({ ...file, extra: 1 }),
      JSON.stringify({ ...file, version: 2 }),
      JSON.stringify({ ...file, kdf: { ...file.kdf, N: 1024 } }),
      JSON.stringify({ ...file, kdf: { ...file.kdf, N: 3 * 2 ** 14 } }),
      // Each parameter within its own limit, together 4 GiB and 512 times the default work.
      JSON.stringify({ ...file, kdf: { ...file.kdf, N: 2 ** 20, r: 32, p: 16 } }),
      JSON.stringify({ ...file, kdf: { ...file.kdf, N: 2 ** 20, r: 8, p: 1 } }),
      JSON.stringify({ ...file, kdf: { ...file.kdf, N: 2 ** 17, r: 8, p: 16 } }),
    ];
    for (const v of variants) {
      expect((await cryptoErrorOfAsync(() => openKeystore(v, 'pass phrase'))).code).toBe(
        'CRYPTO.KEYSTORE_MALFORMED',
      );
    }
    expect(
      (
        await cryptoErrorOfAsync(() =>
          sealKeystore(receiverEntry(), 'pass phrase', { scrypt: { N: 2 ** 10, r: 8, p: 1 } }),
        )
      ).code,
    ).toBe('CRYPTO.KEYSTORE_MALFORMED');
  });

  it('given a secret that does not match the public key when sealing should fail with CRYPTO.KEY_MISMATCH', async () => {
    const entry = { ...receiverEntry(), key: SecretScalar.random() };
    expect((await cryptoErrorOfAsync(() => sealKeystore(entry, 'pass phrase', FAST))).code).toBe(
      'CRYPTO.KEY_MISMATCH',
    );
  });

  it('given a keystore file when written should have mode 0600 and open again; made group-readable it should be refused', async () => {
    const path = join(dir, 'receiver.keystore.json');
    const entry = receiverEntry();
    await writeKeystoreFile(path, entry, 'pass phrase', FAST);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await readKeystoreFile(path, 'pass phrase')).key.exposeBytes()).toEqual(entry.key.exposeBytes());
    for (const mode of [0o640, 0o604, 0o644]) {
      await chmod(path, mode);
      const e = await cryptoErrorOfAsync(() => readKeystoreFile(path, 'pass phrase'));
      expect(e.code).toBe('CRYPTO.KEYSTORE_PERMISSIONS');
      expect(e.message).not.toContain('pass phrase');
    }
    // Overwriting replaces the file atomically and restores 0600.
    await writeKeystoreFile(path, entry, 'new phrase', FAST);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await readKeystoreFile(path, 'new phrase')).id).toBe('grid-operator');
  });

  it('given a keystore when described without its passphrase should show its public fields only, and refuse it group-readable', async () => {
    const path = join(dir, 'described.keystore.json');
    const entry = receiverEntry();
    await writeKeystoreFile(path, entry, 'pass phrase', FAST);
    const summary = await describeKeystoreFile(path);
    expect(summary).toEqual({
      kind: 'receiver',
      id: 'grid-operator',
      publicKey: entry.publicKey,
      scrypt: FAST.scrypt,
    });
    expect(Object.keys(summary)).not.toContain('key');
    expect(cryptoErrorOf(() => describeKeystore('{}')).code).toBe('CRYPTO.KEYSTORE_MALFORMED');
    await chmod(path, 0o644);
    expect((await cryptoErrorOfAsync(() => describeKeystoreFile(path))).code).toBe(
      'CRYPTO.KEYSTORE_PERMISSIONS',
    );
  });
});
