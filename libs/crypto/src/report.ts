import { ByteReader, ByteWriter, bytesEqual, fromBase64, fromHex, toBase64, toHex, utf8 } from './bytes';
import { CryptoError, LimitExceededError, ReportMalformedError } from './errors';
import { fIndex, TAG_REPORT_ID, taggedSha256 } from './hash';
import { assertIdentifier } from './ids';
import { G1_BYTES, G2_BYTES, mcl } from './mcl';

/*
 * The report (the paper's delta) on the wire. One canonical binary encoding, big-endian, every
 * variable field length-prefixed, no optional parts, no trailing bytes; it is what gets hashed
 * (report id), signed (beta) and stored. The JSON form is for the HTTP API only and converts 1:1.
 *
 *   u8    version                     = 2 (1 is still read: the same layout with compressed points)
 *   --- header (authenticated by every share: GCM associated data and header tag) ---
 *   u8    len, meterId                ASCII, 1..64 bytes (ids.ts)
 *   u64   timestamp                   ms since the Unix epoch (UTC), <= 2^53 - 1
 *   u64   nonce                       per-meter counter, strictly increasing (replay protection)
 *   u64   epoch.startedAt             ms; the report that opened this key epoch (= timestamp in per-report mode)
 *   u32   epoch.seq                   0-based position in the key epoch (always 0 in per-report mode)
 *   96    D                           d*P1, uncompressed G1 (version 1: 48, compressed)
 *   u8    m                           receivers, 1..MAX_RECEIVERS
 *   m x { u64 J = f_Index(ID), u8 len + receiver ID, 8-byte fingerprint of the receiver's key }
 *   --- shares (omega), in the receivers' order ---
 *   m x { 8 key check, 16 header tag, u16 len + AES-256-GCM ciphertext (plaintext || 16-byte tag) }
 *   --- signature ---
 *   96    W                           w*P1, uncompressed G1 (under beta; version 1: 48, compressed)
 *   192   T                           uncompressed G2 (not under beta: it is the signature; version 1: 96)
 *
 * Points use the ZCash encodings (points.ts). Version 2 carries them uncompressed: 192 more bytes per
 * report, and every node saves the three square roots of decompression, about 0.3 ms of its 1.15 ms
 * of crypto per report.
 */

/** The version signcryption writes. */
export const REPORT_VERSION = 2;
export const MAX_RECEIVERS = 16;
export const MAX_DIMENSIONS = 64;
export const MAX_DIMENSION_BYTES = 255;
export const GCM_TAG_BYTES = 16;
export const MAX_SHARE_PLAINTEXT_BYTES = 4080;
export const MAX_SHARE_CIPHERTEXT_BYTES = MAX_SHARE_PLAINTEXT_BYTES + GCM_TAG_BYTES;
export const KEY_CHECK_BYTES = 8;
export const HEADER_TAG_BYTES = 16;
export const KEY_FINGERPRINT_BYTES = 8;
const MAX_ID = 64;

/** Byte sizes of a report's G1 points (D, W) and of T, by wire version. */
const POINT_BYTES: Readonly<Record<number, { g1: number; g2: number }>> = {
  1: { g1: G1_BYTES, g2: G2_BYTES },
  2: { g1: 2 * G1_BYTES, g2: 2 * G2_BYTES },
};

/** The versions this library reads and writes. */
export const REPORT_VERSIONS: readonly number[] = Object.keys(POINT_BYTES).map(Number);

export function reportPointBytes(version: number): { g1: number; g2: number } {
  const sizes = POINT_BYTES[version];
  if (!sizes) {
    throw new ReportMalformedError(`unsupported version ${version}`, { version });
  }
  return sizes;
}

const LARGEST_POINTS = reportPointBytes(2);
export const MAX_REPORT_BYTES =
  1 +
  (1 + MAX_ID + 8 + 8 + 8 + 4 + LARGEST_POINTS.g1 + 1) +
  MAX_RECEIVERS * (8 + 1 + MAX_ID + KEY_FINGERPRINT_BYTES) +
  MAX_RECEIVERS * (KEY_CHECK_BYTES + HEADER_TAG_BYTES + 2 + MAX_SHARE_CIPHERTEXT_BYTES) +
  LARGEST_POINTS.g1 +
  LARGEST_POINTS.g2;

const U64_MAX = (1n << 64n) - 1n;

export interface ReportEpoch {
  /** When the key epoch of this report began (ms); equals the timestamp in per-report mode. */
  readonly startedAt: number;
  /** Position of this report in its key epoch, from 0. */
  readonly seq: number;
}

export interface ReportReceiver {
  /** J = f_Index(ID). */
  readonly index: bigint;
  readonly id: string;
  /** Fingerprint of the public key the meter encrypted this receiver's share to. */
  readonly keyFingerprint: Uint8Array;
}

export interface ReportShare {
  /** Binds the share key to the intended receiver index (unsigncrypt.ts). */
  readonly keyCheck: Uint8Array;
  /** MAC of the header under the share key: tells a changed header from a tampered ciphertext. */
  readonly headerTag: Uint8Array;
  readonly ciphertext: Uint8Array;
}

/** Decoded points, filled on first use and kept, so that a report is never decoded twice. */
export interface ReportPointCache {
  w?: mcl.G1;
  t?: mcl.G2;
  /** D checked only to be a curve point (what a node needs). */
  dCurve?: mcl.G1;
  /** Why W or T failed to decode, remembered like a success. */
  signatureError?: CryptoError;
}

export interface ReportJson {
  version: number;
  meterId: string;
  timestamp: number;
  nonce: string;
  epoch: { startedAt: number; seq: number };
  D: string;
  receivers: { index: string; id: string; keyFingerprint: string }[];
  shares: { keyCheck: string; headerTag: string; ciphertext: string }[];
  signature: { W: string; T: string };
}

let internalsOf: (r: Report) => { headerEnd: number; bodyEnd: number; cache: ReportPointCache };

/**
 * A report in its canonical form. Immutable; `bytes` is the canonical encoding, the fields are views
 * into it. Decoding checks the structure and the limits only; the points D, W and T are decoded (and
 * checked) by whoever uses them, once per Report object.
 */
export class Report {
  readonly #headerEnd: number;
  readonly #bodyEnd: number;
  readonly #cache: ReportPointCache = {};
  #id: Uint8Array | undefined;

  static {
    internalsOf = (r) => ({ headerEnd: r.#headerEnd, bodyEnd: r.#bodyEnd, cache: r.#cache });
  }

  private constructor(
    readonly bytes: Uint8Array,
    readonly version: number,
    readonly meterId: string,
    readonly timestamp: number,
    readonly nonce: bigint,
    readonly epoch: ReportEpoch,
    readonly d: Uint8Array,
    readonly receivers: readonly ReportReceiver[],
    readonly shares: readonly ReportShare[],
    readonly w: Uint8Array,
    readonly t: Uint8Array,
    headerEnd: number,
    bodyEnd: number,
  ) {
    this.#headerEnd = headerEnd;
    this.#bodyEnd = bodyEnd;
  }

  /** Parse the canonical encoding. Every deviation is a typed error (CRYPTO.REPORT_MALFORMED, limits, lengths). */
  static decode(input: Uint8Array): Report {
    if (input.length > MAX_REPORT_BYTES) {
      throw new LimitExceededError('report size', MAX_REPORT_BYTES, input.length);
    }
    const bytes = input.slice();
    const r = new ByteReader(bytes, 'report');
    const version = r.u8('version');
    const points = reportPointBytes(version);
    const meterId = readId(r, 'meterId');
    const timestamp = readMs(r, 'timestamp');
    const nonce = r.u64('nonce');
    const startedAt = readMs(r, 'epoch.startedAt');
    const seq = r.u32('epoch.seq');
    const d = r.fixed(points.g1, 'D');
    const m = r.u8('receiverCount');
    if (m === 0) {
      throw new ReportMalformedError('a report needs at least one receiver');
    }
    if (m > MAX_RECEIVERS) {
      throw new LimitExceededError('receivers', MAX_RECEIVERS, m);
    }
    const receivers: ReportReceiver[] = [];
    for (let i = 0; i < m; i++) {
      const index = r.u64(`receivers[${i}].index`);
      const id = readId(r, `receivers[${i}].id`);
      const keyFingerprint = r.fixed(KEY_FINGERPRINT_BYTES, `receivers[${i}].keyFingerprint`);
      receivers.push({ index, id, keyFingerprint });
    }
    checkReceivers(receivers);
    const headerEnd = r.offset;
    const shares: ReportShare[] = [];
    for (let i = 0; i < m; i++) {
      const keyCheck = r.fixed(KEY_CHECK_BYTES, `shares[${i}].keyCheck`);
      const headerTag = r.fixed(HEADER_TAG_BYTES, `shares[${i}].headerTag`);
      const ciphertext = r.bytes16(`shares[${i}].ciphertext`);
      checkCiphertextLength(ciphertext.length, i);
      shares.push({ keyCheck, headerTag, ciphertext });
    }
    const bodyEnd = r.offset;
    const w = r.fixed(points.g1, 'W');
    const t = r.fixed(points.g2, 'T');
    r.end();
    return new Report(
      bytes,
      version,
      meterId,
      timestamp,
      nonce,
      { startedAt, seq },
      d,
      receivers,
      shares,
      w,
      t,
      headerEnd,
      bodyEnd,
    );
  }

  /** The header bytes (version .. receiver table): associated data of every share. */
  get header(): Uint8Array {
    return this.bytes.subarray(0, this.#headerEnd);
  }

  /** Report id: tagged SHA-256 of the canonical encoding (32 bytes). */
  get id(): Uint8Array {
    this.#id ??= taggedSha256(TAG_REPORT_ID, this.bytes);
    return this.#id;
  }

  get idHex(): string {
    return toHex(this.id);
  }

  /** The HTTP API form: hex for fixed-size binary fields, base64 for ciphertexts, u64 nonce as a decimal string. */
  toJSON(): ReportJson {
    return {
      version: this.version,
      meterId: this.meterId,
      timestamp: this.timestamp,
      nonce: this.nonce.toString(),
      epoch: { startedAt: this.epoch.startedAt, seq: this.epoch.seq },
      D: toHex(this.d),
      receivers: this.receivers.map((rc) => ({
        index: rc.index.toString(16).padStart(16, '0'),
        id: rc.id,
        keyFingerprint: toHex(rc.keyFingerprint),
      })),
      shares: this.shares.map((s) => ({
        keyCheck: toHex(s.keyCheck),
        headerTag: toHex(s.headerTag),
        ciphertext: toBase64(s.ciphertext),
      })),
      signature: { W: toHex(this.w), T: toHex(this.t) },
    };
  }

  /**
   * Strict parse of the JSON form: unknown or missing fields, wrong types, bad or wrong-length hex,
   * non-canonical base64 are all rejected; the result is re-encoded and decoded through the binary
   * path, so both forms obey exactly the same rules.
   */
  static fromJSON(value: unknown): Report {
    const o = object(value, 'report', [
      'version',
      'meterId',
      'timestamp',
      'nonce',
      'epoch',
      'D',
      'receivers',
      'shares',
      'signature',
    ]);
    const version = integer(o.version, 'version', 0, 255);
    const points = reportPointBytes(version);
    const meterId = str(o.meterId, 'meterId');
    const timestamp = integer(o.timestamp, 'timestamp', 0, Number.MAX_SAFE_INTEGER);
    const nonceText = str(o.nonce, 'nonce');
    if (!/^(0|[1-9][0-9]{0,19})$/.test(nonceText) || BigInt(nonceText) > U64_MAX) {
      throw new ReportMalformedError('nonce must be a decimal u64 string without leading zeros');
    }
    const epoch = object(o.epoch, 'epoch', ['seq', 'startedAt']);
    const receiversJson = array(o.receivers, 'receivers');
    const sharesJson = array(o.shares, 'shares');
    if (receiversJson.length > MAX_RECEIVERS) {
      throw new LimitExceededError('receivers', MAX_RECEIVERS, receiversJson.length);
    }
    if (sharesJson.length !== receiversJson.length) {
      throw new ReportMalformedError('one share per receiver is required');
    }
    const signature = object(o.signature, 'signature', ['T', 'W']);
    const fields: ReportFields = {
      version,
      meterId,
      timestamp,
      nonce: BigInt(nonceText),
      epoch: {
        startedAt: integer(epoch.startedAt, 'epoch.startedAt', 0, Number.MAX_SAFE_INTEGER),
        seq: integer(epoch.seq, 'epoch.seq', 0, 0xffffffff),
      },
      d: fromHex(str(o.D, 'D'), 'D', points.g1),
      receivers: receiversJson.map((v, i) => {
        const rc = object(v, `receivers[${i}]`, ['id', 'index', 'keyFingerprint']);
        const indexText = str(rc.index, `receivers[${i}].index`);
        return {
          index: BigInt(`0x${toHex(fromHex(indexText, `receivers[${i}].index`, 8))}`),
          id: str(rc.id, `receivers[${i}].id`),
          keyFingerprint: fromHex(
            str(rc.keyFingerprint, `receivers[${i}].keyFingerprint`),
            `receivers[${i}].keyFingerprint`,
            KEY_FINGERPRINT_BYTES,
          ),
        };
      }),
      shares: sharesJson.map((v, i) => {
        const s = object(v, `shares[${i}]`, ['ciphertext', 'headerTag', 'keyCheck']);
        return {
          keyCheck: fromHex(
            str(s.keyCheck, `shares[${i}].keyCheck`),
            `shares[${i}].keyCheck`,
            KEY_CHECK_BYTES,
          ),
          headerTag: fromHex(
            str(s.headerTag, `shares[${i}].headerTag`),
            `shares[${i}].headerTag`,
            HEADER_TAG_BYTES,
          ),
          ciphertext: fromBase64(str(s.ciphertext, `shares[${i}].ciphertext`), `shares[${i}].ciphertext`),
        };
      }),
      w: fromHex(str(signature.W, 'signature.W'), 'signature.W', points.g1),
      t: fromHex(str(signature.T, 'signature.T'), 'signature.T', points.g2),
    };
    return Report.decode(encodeReport(fields));
  }
}

/** Everything a report consists of, for building one (signcryption, tests). */
export interface ReportFields {
  readonly version: number;
  readonly meterId: string;
  readonly timestamp: number;
  readonly nonce: bigint;
  readonly epoch: ReportEpoch;
  readonly d: Uint8Array;
  readonly receivers: readonly ReportReceiver[];
  readonly shares: readonly ReportShare[];
  readonly w: Uint8Array;
  readonly t: Uint8Array;
}

/** Header bytes from its fields (version .. receiver table). */
export function encodeHeader(f: Omit<ReportFields, 'shares' | 'w' | 't'>): Uint8Array {
  const wr = new ByteWriter(256)
    .u8(f.version)
    .bytes8(utf8(f.meterId))
    .u64(BigInt(f.timestamp))
    .u64(f.nonce)
    .u64(BigInt(f.epoch.startedAt))
    .u32(f.epoch.seq)
    .fixed(f.d)
    .u8(f.receivers.length);
  for (const rc of f.receivers) {
    wr.u64(rc.index).bytes8(utf8(rc.id)).fixed(rc.keyFingerprint);
  }
  return wr.finish();
}

/** Canonical encoding of a full report from its fields. */
export function encodeReport(f: ReportFields): Uint8Array {
  const wr = new ByteWriter(1024).fixed(encodeHeader(f));
  for (const s of f.shares) {
    wr.fixed(s.keyCheck).fixed(s.headerTag).bytes16(s.ciphertext);
  }
  return wr.fixed(f.w).fixed(f.t).finish();
}

/** Internal: offsets and the point cache of a report. */
export function reportInternals(r: Report): { headerEnd: number; bodyEnd: number; cache: ReportPointCache } {
  return internalsOf(r);
}

/** The report with another signature (W, T); the rest byte for byte the same. */
export function withSignature(r: Report, w: Uint8Array, t: Uint8Array): Report {
  return Report.decode(encodeReport({ ...r, w, t }));
}

function readId(r: ByteReader, field: string): string {
  const raw = r.bytes8(field);
  const id = Buffer.from(raw.buffer, raw.byteOffset, raw.length).toString('latin1');
  try {
    assertIdentifier(id, field);
  } catch {
    throw new ReportMalformedError(`${field} is not a valid identifier`, { field });
  }
  return id;
}

function readMs(r: ByteReader, field: string): number {
  const v = r.u64(field);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new ReportMalformedError(`${field} beyond 2^53 - 1`, { field });
  }
  return Number(v);
}

function checkReceivers(receivers: readonly ReportReceiver[]): void {
  const seen = new Set<string>();
  for (const [i, rc] of receivers.entries()) {
    if (rc.index !== fIndex(rc.id)) {
      throw new ReportMalformedError(`receivers[${i}].index is not f_Index of its id`, { receiver: i });
    }
    if (seen.has(rc.id)) {
      throw new ReportMalformedError(`receiver "${rc.id}" appears twice`, { receiver: i });
    }
    seen.add(rc.id);
  }
}

function checkCiphertextLength(length: number, i: number): void {
  if (length < GCM_TAG_BYTES) {
    throw new ReportMalformedError(`shares[${i}].ciphertext is shorter than the GCM tag`, { share: i });
  }
  if (length > MAX_SHARE_CIPHERTEXT_BYTES) {
    throw new LimitExceededError(`shares[${i}].ciphertext`, MAX_SHARE_CIPHERTEXT_BYTES, length);
  }
}

export function sameReceivers(a: readonly ReportReceiver[], b: readonly ReportReceiver[]): boolean {
  return (
    a.length === b.length &&
    a.every((x, i) => {
      const y = b[i];
      return (
        y !== undefined &&
        x.id === y.id &&
        x.index === y.index &&
        bytesEqual(x.keyFingerprint, y.keyFingerprint)
      );
    })
  );
}

// ---- strict JSON helpers ---------------------------------------------------------------------

function object(value: unknown, path: string, keys: readonly string[]): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ReportMalformedError(`${path} must be an object`, { path });
  }
  const proto: unknown = Object.getPrototypeOf(value);
  // A plain object from any realm (a vm context, a worker): its prototype is some realm's
  // Object.prototype, whose own prototype is null.
  if (proto !== null && Object.getPrototypeOf(proto) !== null) {
    throw new ReportMalformedError(`${path} must be a plain object`, { path });
  }
  const actual = Object.keys(value).sort();
  const expected = [...keys].sort();
  const unknown = actual.filter((k) => !expected.includes(k));
  const missing = expected.filter((k) => !actual.includes(k));
  if (unknown.length > 0 || missing.length > 0) {
    throw new ReportMalformedError(
      `${path}: unknown fields [${unknown.join(', ')}], missing [${missing.join(', ')}]`,
      {
        path,
        unknown,
        missing,
      },
    );
  }
  return value as Record<string, unknown>;
}

function array(value: unknown, path: string): unknown[] {
  if (!Array.isArray(value)) {
    throw new ReportMalformedError(`${path} must be an array`, { path });
  }
  return value;
}

function str(value: unknown, path: string): string {
  if (typeof value !== 'string') {
    throw new ReportMalformedError(`${path} must be a string`, { path });
  }
  return value;
}

function integer(value: unknown, path: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ReportMalformedError(`${path} must be an integer in [${min}, ${max}]`, { path });
  }
  return value;
}
