import { createCipheriv, createDecipheriv, randomBytes, scrypt as scryptCb } from 'node:crypto';
import { chmod, open, rename, unlink } from 'node:fs/promises';

import { ByteReader, ByteWriter, bytesEqual, fromBase64, fromHex, toBase64, toHex, utf8 } from './bytes';
import {
  CryptoError,
  KeyMismatchError,
  KeystoreMalformedError,
  KeystorePermissionsError,
  KeystoreWrongPassphraseError,
} from './errors';
import { assertIdentifier } from './ids';
import { FR_BYTES, G1_BYTES, mcl, ready } from './mcl';
import { scalarOf, SecretScalar } from './secret';

/*
 * Keystore file: the CC's master key, a receiver's keys, a delegate's BLS key, sealed with a
 * passphrase. Versioned JSON, so an operator can see what a file is without opening it:
 *
 *   {
 *     "format": "cbsg-keystore", "version": 1,
 *     "kind": "cc-master" | "receiver" | "meter" | "bls",
 *     "id": "<identity>",
 *     "publicKey": "<hex>",          first 48 bytes = key*P1 (for cc-master: Ypub1 || Ypub2, 144 bytes)
 *     "kdf": { "name": "scrypt", "N": 131072, "r": 8, "p": 1, "salt": "<32 bytes hex>" },
 *     "cipher": { "name": "aes-256-gcm", "iv": "<12 bytes hex>" },
 *     "ciphertext": "<base64: sealed secrets || 16-byte GCM tag>"
 *   }
 *
 * key = scrypt(NFC(passphrase), salt, N, r, p, 32). Defaults N = 2^17, r = 8, p = 1 (128 MiB, a few
 * hundred ms: the OWASP recommendation for scrypt); files are accepted with N in [2^14, 2^20], r in
 * [1, 32], p in [1, 16], at most 512 MiB and 8x the default work in all (checkScrypt), so a file
 * cannot make opening it cheap to brute-force or too costly to run.
 * GCM's associated data is the binary encoding of every field but the ciphertext, so nothing in the
 * file can be changed without the tag failing. Sealed secrets: u8 count, then count x { u8 len +
 * name, 32-byte big-endian scalar }, names "key" (always) and "partial" (the CC's partial key h).
 *
 * Files are written with mode 0600 (through a temporary file and a rename, so a crash never leaves
 * half a key) and refused when group or others can read them.
 */

export type KeystoreKind = 'cc-master' | 'receiver' | 'meter' | 'bls';
const KINDS: readonly KeystoreKind[] = ['cc-master', 'receiver', 'meter', 'bls'];
const FORMAT = 'cbsg-keystore';
const VERSION = 1;

export interface ScryptParams {
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

export const DEFAULT_SCRYPT: ScryptParams = Object.freeze({ N: 2 ** 17, r: 8, p: 1 });
const MIN_N = 2 ** 14;
const MAX_N = 2 ** 20;

export interface KeystoreEntry {
  readonly kind: KeystoreKind;
  readonly id: string;
  /** key*P1 first; for cc-master the system parameters Ypub1 || Ypub2. */
  readonly publicKey: Uint8Array;
  /** The main secret; its public key is the first 48 bytes of publicKey. */
  readonly key: SecretScalar;
  /** The partial private key h from the CC, where the holder has one. */
  readonly partial?: SecretScalar;
}

interface KeystoreFile {
  format: string;
  version: number;
  kind: KeystoreKind;
  id: string;
  publicKey: string;
  kdf: { name: 'scrypt'; N: number; r: number; p: number; salt: string };
  cipher: { name: 'aes-256-gcm'; iv: string };
  ciphertext: string;
}

/**
 * Bounds on the whole cost, not only on each parameter: N, r and p at their separate limits would
 * ask for 4 GiB and 512 times the default work per open. scrypt needs 128*N*r bytes (p runs one
 * after another) and does work in proportion to N*r*p.
 */
const MAX_SCRYPT_MEMORY = 512 * 1024 * 1024; // 4x the default's 128 MiB
const MAX_SCRYPT_WORK = 2 ** 23; // N*r*p: 8x the default's 2^20

function scrypt(passphrase: string, salt: Uint8Array, p: ScryptParams): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCb(
      passphrase.normalize('NFC'),
      salt,
      32,
      { N: p.N, r: p.r, p: p.p, maxmem: MAX_SCRYPT_MEMORY + 16 * 1024 * 1024 },
      (err, key) =>
        err ? reject(new KeystoreMalformedError(`scrypt failed: ${err.message}`)) : resolve(key),
    );
  });
}

function checkScrypt(p: ScryptParams): void {
  const powerOfTwo = Number.isInteger(p.N) && p.N > 1 && (p.N & (p.N - 1)) === 0;
  if (!powerOfTwo || p.N < MIN_N || p.N > MAX_N) {
    throw new KeystoreMalformedError(`scrypt N must be a power of two in [2^14, 2^20]`);
  }
  if (!Number.isInteger(p.r) || p.r < 1 || p.r > 32 || !Number.isInteger(p.p) || p.p < 1 || p.p > 16) {
    throw new KeystoreMalformedError('scrypt r must be 1..32 and p 1..16');
  }
  if (128 * p.N * p.r > MAX_SCRYPT_MEMORY) {
    throw new KeystoreMalformedError('scrypt N*r asks for more than 512 MiB (128*N*r bytes)');
  }
  if (p.N * p.r * p.p > MAX_SCRYPT_WORK) {
    throw new KeystoreMalformedError('scrypt N*r*p is above 2^23 (8 times the default work)');
  }
}

function associatedData(f: Omit<KeystoreFile, 'ciphertext'>): Uint8Array {
  return new ByteWriter(256)
    .bytes8(utf8(f.format))
    .u32(f.version)
    .bytes8(utf8(f.kind))
    .bytes8(utf8(f.id))
    .bytes16(fromHex(f.publicKey, 'keystore publicKey'))
    .bytes8(utf8(f.kdf.name))
    .u32(f.kdf.N)
    .u32(f.kdf.r)
    .u32(f.kdf.p)
    .bytes8(fromHex(f.kdf.salt, 'keystore salt'))
    .bytes8(utf8(f.cipher.name))
    .bytes8(fromHex(f.cipher.iv, 'keystore iv'))
    .finish();
}

function checkKeyMatches(entry: {
  kind: KeystoreKind;
  id: string;
  publicKey: Uint8Array;
  key: SecretScalar;
}): void {
  const { P1 } = ready();
  const expectedLength = entry.kind === 'cc-master' ? G1_BYTES + 96 : G1_BYTES;
  if (entry.publicKey.length !== expectedLength) {
    throw new KeystoreMalformedError(`publicKey of a ${entry.kind} keystore must be ${expectedLength} bytes`);
  }
  const actual = mcl.mul(P1, scalarOf(entry.key)).serialize();
  if (!bytesEqual(actual, entry.publicKey.subarray(0, G1_BYTES))) {
    throw new KeyMismatchError(`${entry.kind} keystore "${entry.id}"`);
  }
}

/** Seal an entry into the keystore JSON text. */
export async function sealKeystore(
  entry: KeystoreEntry,
  passphrase: string,
  options: { scrypt?: ScryptParams } = {},
): Promise<string> {
  ready();
  if (!KINDS.includes(entry.kind)) {
    throw new KeystoreMalformedError(`unknown kind "${String(entry.kind)}"`);
  }
  assertIdentifier(entry.id, 'keystore id');
  if (passphrase.length === 0) {
    throw new KeystoreMalformedError('an empty passphrase seals nothing');
  }
  checkKeyMatches(entry);
  const params = options.scrypt ?? DEFAULT_SCRYPT;
  checkScrypt(params);
  const salt = randomBytes(32);
  const iv = randomBytes(12);
  const header: Omit<KeystoreFile, 'ciphertext'> = {
    format: FORMAT,
    version: VERSION,
    kind: entry.kind,
    id: entry.id,
    publicKey: toHex(entry.publicKey),
    kdf: { name: 'scrypt', N: params.N, r: params.r, p: params.p, salt: toHex(salt) },
    cipher: { name: 'aes-256-gcm', iv: toHex(iv) },
  };
  const secrets = new ByteWriter(80)
    .u8(entry.partial === undefined ? 1 : 2)
    .bytes8(utf8('key'))
    .fixed(entry.key.exposeBytes());
  if (entry.partial !== undefined) {
    secrets.bytes8(utf8('partial')).fixed(entry.partial.exposeBytes());
  }
  const plaintext = secrets.finish();
  const key = await scrypt(passphrase, salt, params);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(associatedData(header));
  const sealed = Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
  key.fill(0);
  plaintext.fill(0);
  const file: KeystoreFile = { ...header, ciphertext: toBase64(sealed) };
  return `${JSON.stringify(file, null, 2)}\n`;
}

/** Open keystore JSON text. Wrong passphrase (or any change to the file): CRYPTO.KEYSTORE_WRONG_PASSPHRASE. */
export async function openKeystore(text: string, passphrase: string): Promise<KeystoreEntry> {
  ready();
  const file = parseFile(text);
  const key = await scrypt(passphrase, fromHex(file.kdf.salt, 'keystore salt'), file.kdf);
  const sealed = fromBase64(file.ciphertext, 'keystore ciphertext');
  if (sealed.length < 16) {
    throw new KeystoreMalformedError('ciphertext shorter than its tag');
  }
  const d = createDecipheriv('aes-256-gcm', key, fromHex(file.cipher.iv, 'keystore iv', 12));
  d.setAAD(associatedData(file));
  d.setAuthTag(sealed.subarray(sealed.length - 16));
  let plaintext: Buffer;
  try {
    plaintext = Buffer.concat([d.update(sealed.subarray(0, sealed.length - 16)), d.final()]);
  } catch {
    throw new KeystoreWrongPassphraseError();
  } finally {
    key.fill(0);
  }
  try {
    const r = new ByteReader(plaintext, 'keystore secrets');
    const count = r.u8('count');
    const secrets = new Map<string, SecretScalar>();
    for (let i = 0; i < count; i++) {
      const name = Buffer.from(r.bytes8('name')).toString('utf8');
      secrets.set(name, SecretScalar.fromBytes(r.fixed(FR_BYTES, 'secret'), `keystore secret "${name}"`));
    }
    r.end();
    const main = secrets.get('key');
    if (main === undefined || [...secrets.keys()].some((n) => n !== 'key' && n !== 'partial')) {
      throw new KeystoreMalformedError('sealed secrets must be "key" and optionally "partial"');
    }
    const partial = secrets.get('partial');
    const entry: KeystoreEntry = {
      kind: file.kind,
      id: file.id,
      publicKey: fromHex(file.publicKey, 'keystore publicKey'),
      key: main,
      ...(partial === undefined ? {} : { partial }),
    };
    checkKeyMatches(entry);
    return entry;
  } catch (e) {
    if (
      e instanceof CryptoError &&
      !(e instanceof KeystoreMalformedError) &&
      !(e instanceof KeyMismatchError)
    ) {
      throw new KeystoreMalformedError(`sealed secrets do not decode: ${e.code}`);
    }
    throw e;
  } finally {
    plaintext.fill(0);
  }
}

function parseFile(text: string): KeystoreFile {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new KeystoreMalformedError('not JSON');
  }
  const top = exactObject(value, 'keystore', [
    'cipher',
    'ciphertext',
    'format',
    'id',
    'kdf',
    'kind',
    'publicKey',
    'version',
  ]);
  if (top.format !== FORMAT) {
    throw new KeystoreMalformedError(`format must be "${FORMAT}"`);
  }
  if (top.version !== VERSION) {
    throw new KeystoreMalformedError(`unsupported version ${String(top.version)}`);
  }
  if (typeof top.kind !== 'string' || !KINDS.includes(top.kind as KeystoreKind)) {
    throw new KeystoreMalformedError('unknown kind');
  }
  if (typeof top.id !== 'string') {
    throw new KeystoreMalformedError('id must be a string');
  }
  assertIdentifier(top.id, 'keystore id');
  const kdf = exactObject(top.kdf, 'kdf', ['N', 'name', 'p', 'r', 'salt']);
  const cipher = exactObject(top.cipher, 'cipher', ['iv', 'name']);
  if (kdf.name !== 'scrypt' || cipher.name !== 'aes-256-gcm') {
    throw new KeystoreMalformedError('only scrypt and aes-256-gcm are supported');
  }
  for (const k of ['N', 'r', 'p'] as const) {
    if (typeof kdf[k] !== 'number') {
      throw new KeystoreMalformedError(`kdf.${k} must be a number`);
    }
  }
  const scryptParams = { N: kdf.N as number, r: kdf.r as number, p: kdf.p as number };
  checkScrypt(scryptParams);
  for (const [name, v] of [
    ['publicKey', top.publicKey],
    ['kdf.salt', kdf.salt],
    ['cipher.iv', cipher.iv],
    ['ciphertext', top.ciphertext],
  ] as const) {
    if (typeof v !== 'string') {
      throw new KeystoreMalformedError(`${name} must be a string`);
    }
  }
  const file: KeystoreFile = {
    format: FORMAT,
    version: VERSION,
    kind: top.kind as KeystoreKind,
    id: top.id,
    publicKey: top.publicKey as string,
    kdf: { name: 'scrypt', ...scryptParams, salt: kdf.salt as string },
    cipher: { name: 'aes-256-gcm', iv: cipher.iv as string },
    ciphertext: top.ciphertext as string,
  };
  try {
    fromHex(file.publicKey, 'publicKey');
    fromHex(file.kdf.salt, 'kdf.salt', 32);
    fromHex(file.cipher.iv, 'cipher.iv', 12);
  } catch (e) {
    throw new KeystoreMalformedError(e instanceof Error ? e.message : 'bad hex');
  }
  return file;
}

function exactObject(value: unknown, what: string, keys: readonly string[]): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new KeystoreMalformedError(`${what} must be an object`);
  }
  const actual = Object.keys(value).sort();
  if (actual.length !== keys.length || actual.some((k, i) => k !== keys[i])) {
    throw new KeystoreMalformedError(`${what} must have exactly the fields ${keys.join(', ')}`);
  }
  return value as Record<string, unknown>;
}

/** Seal and write with mode 0600, atomically (temporary file in the same directory, then rename). */
export async function writeKeystoreFile(
  path: string,
  entry: KeystoreEntry,
  passphrase: string,
  options: { scrypt?: ScryptParams } = {},
): Promise<void> {
  const text = await sealKeystore(entry, passphrase, options);
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(tmp, 'wx', 0o600);
  try {
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await chmod(tmp, 0o600); // the umask can only remove bits, but be explicit about the result
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}

/** Read and open a keystore file; refuses files that group or others can read. */
export async function readKeystoreFile(path: string, passphrase: string): Promise<KeystoreEntry> {
  return openKeystore(await readPrivateFile(path), passphrase);
}

/** What a keystore shows without its passphrase: nothing secret. */
export interface KeystoreSummary {
  readonly kind: KeystoreKind;
  readonly id: string;
  /** As in KeystoreEntry: key*P1 first; for cc-master Ypub1 || Ypub2. */
  readonly publicKey: Uint8Array;
  readonly scrypt: ScryptParams;
}

/** The public fields of keystore JSON text, checked as strictly as openKeystore checks them. */
export function describeKeystore(text: string): KeystoreSummary {
  const file = parseFile(text);
  return {
    kind: file.kind,
    id: file.id,
    publicKey: fromHex(file.publicKey, 'keystore publicKey'),
    scrypt: { N: file.kdf.N, r: file.kdf.r, p: file.kdf.p },
  };
}

/** Read a keystore file's public fields; refuses files that group or others can read, as readKeystoreFile does. */
export async function describeKeystoreFile(path: string): Promise<KeystoreSummary> {
  return describeKeystore(await readPrivateFile(path));
}

async function readPrivateFile(path: string): Promise<string> {
  const handle = await open(path, 'r');
  try {
    // fstat on the handle we read from: no window to swap the file between the check and the read.
    const { mode } = await handle.stat();
    if ((mode & 0o077) !== 0) {
      throw new KeystorePermissionsError(path, mode);
    }
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}
