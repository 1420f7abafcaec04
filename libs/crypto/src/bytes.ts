import { timingSafeEqual } from 'node:crypto';

import { EncodingOversizedError, EncodingTruncatedError, MalformedEncodingError } from './errors';

export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) {
    length += p.length;
  }
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) {
    return false;
  }
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) {
      return false;
    }
  }
  return true;
}

/** Equality for secret-derived values (key checks, tags), where timing must not leak a prefix. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

const HEX_RE = /^(?:[0-9a-f]{2})*$/;

/** Lower-case hex, as every JSON form of this library writes it. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('hex');
}

/**
 * Strict hex: lower case, even length, nothing else. Buffer.from(s, 'hex') silently stops at the
 * first bad character, which would let two different strings decode to the same bytes.
 */
export function fromHex(hex: string, what: string, expectedLength?: number): Uint8Array {
  if (!HEX_RE.test(hex)) {
    throw new MalformedEncodingError(what, 'not lower-case hex of even length');
  }
  const bytes = new Uint8Array(Buffer.from(hex, 'hex'));
  if (expectedLength !== undefined) {
    expectLength(bytes, expectedLength, what);
  }
  return bytes;
}

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('base64');
}

/** Unpadded URL-safe base64 (RFC 4648 section 5), for tokens that travel in headers and URLs. */
export function toBase64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('base64url');
}

/** Strict unpadded base64url whose re-encoding is the same string (canonical). */
export function fromBase64Url(text: string, what: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) {
    throw new MalformedEncodingError(what, 'not unpadded base64url');
  }
  const bytes = new Uint8Array(Buffer.from(text, 'base64url'));
  if (toBase64Url(bytes) !== text) {
    throw new MalformedEncodingError(what, 'non-canonical base64url');
  }
  return bytes;
}

/** Strict, padded, standard-alphabet base64 whose re-encoding is the same string (canonical). */
export function fromBase64(text: string, what: string): Uint8Array {
  const bytes = new Uint8Array(Buffer.from(text, 'base64'));
  // Every re-encoding is strict padded base64, so the round trip alone proves the text is; the
  // pattern, slow on large bodies, only runs to name the fault.
  if (toBase64(bytes) !== text) {
    throw new MalformedEncodingError(
      what,
      BASE64_RE.test(text)
        ? 'non-canonical base64 (stray bits in the last character)'
        : 'not padded standard base64',
    );
  }
  return bytes;
}

export function expectLength(bytes: Uint8Array, expected: number, what: string): void {
  if (bytes.length < expected) {
    throw new EncodingTruncatedError(what, expected, bytes.length);
  }
  if (bytes.length > expected) {
    throw new EncodingOversizedError(what, expected, bytes.length);
  }
}

const TEXT = new TextEncoder();

export function utf8(text: string): Uint8Array {
  return TEXT.encode(text);
}

/** Big-endian, length-prefixed writer for the canonical encodings. */
export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  private pos = 0;

  constructor(initialCapacity = 256) {
    this.buf = new Uint8Array(initialCapacity);
    this.view = new DataView(this.buf.buffer);
  }

  get length(): number {
    return this.pos;
  }

  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) {
      return;
    }
    let capacity = this.buf.length * 2;
    while (capacity < this.pos + n) {
      capacity *= 2;
    }
    const next = new Uint8Array(capacity);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(value: number): this {
    this.reserve(1);
    this.view.setUint8(this.pos, value);
    this.pos += 1;
    return this;
  }

  u16(value: number): this {
    this.reserve(2);
    this.view.setUint16(this.pos, value);
    this.pos += 2;
    return this;
  }

  u32(value: number): this {
    this.reserve(4);
    this.view.setUint32(this.pos, value);
    this.pos += 4;
    return this;
  }

  u64(value: bigint): this {
    this.reserve(8);
    this.view.setBigUint64(this.pos, value);
    this.pos += 8;
    return this;
  }

  /** Raw bytes of a length fixed by the format (points, tags). */
  fixed(bytes: Uint8Array): this {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
    return this;
  }

  /** Bytes with a one-byte length prefix (identifiers, tags: at most 255 bytes). */
  bytes8(bytes: Uint8Array): this {
    if (bytes.length > 0xff) {
      throw new EncodingOversizedError('u8-prefixed field', 0xff, bytes.length);
    }
    return this.u8(bytes.length).fixed(bytes);
  }

  /** Bytes with a two-byte length prefix (ciphertexts, messages up to 65,535 bytes). */
  bytes16(bytes: Uint8Array): this {
    if (bytes.length > 0xffff) {
      throw new EncodingOversizedError('u16-prefixed field', 0xffff, bytes.length);
    }
    return this.u16(bytes.length).fixed(bytes);
  }

  /** Bytes with a four-byte length prefix (messages of any practical size). */
  bytes32(bytes: Uint8Array): this {
    return this.u32(bytes.length).fixed(bytes);
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

/** Reader matching ByteWriter; every overrun is a typed truncation error naming the field. */
export class ByteReader {
  private readonly view: DataView;
  private pos = 0;

  constructor(
    private readonly buf: Uint8Array,
    private readonly what: string,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.length);
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private need(n: number, field: string): void {
    if (this.pos + n > this.buf.length) {
      throw new EncodingTruncatedError(`${this.what}.${field}`, this.pos + n, this.buf.length);
    }
  }

  u8(field: string): number {
    this.need(1, field);
    const v = this.view.getUint8(this.pos);
    this.pos += 1;
    return v;
  }

  u16(field: string): number {
    this.need(2, field);
    const v = this.view.getUint16(this.pos);
    this.pos += 2;
    return v;
  }

  u32(field: string): number {
    this.need(4, field);
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  u64(field: string): bigint {
    this.need(8, field);
    const v = this.view.getBigUint64(this.pos);
    this.pos += 8;
    return v;
  }

  /** A view into the input (no copy); callers that keep it must not mutate the input. */
  fixed(n: number, field: string): Uint8Array {
    this.need(n, field);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  bytes8(field: string): Uint8Array {
    return this.fixed(this.u8(field), field);
  }

  bytes16(field: string): Uint8Array {
    return this.fixed(this.u16(field), field);
  }

  bytes32(field: string): Uint8Array {
    return this.fixed(this.u32(field), field);
  }

  /** Canonical encodings have no trailing bytes: two byte strings never decode to one value. */
  end(): void {
    if (this.pos !== this.buf.length) {
      throw new EncodingOversizedError(this.what, this.pos, this.buf.length);
    }
  }
}
