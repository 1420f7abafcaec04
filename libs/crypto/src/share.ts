import { createCipheriv, createDecipheriv, createHmac, createSecretKey, KeyObject } from 'node:crypto';

import { ByteReader, ByteWriter, constantTimeEqual } from './bytes';
import { LimitExceededError, ReportMalformedError } from './errors';
import { encodeGT, h4 } from './hash';
import { mcl } from './mcl';
import {
  GCM_TAG_BYTES,
  HEADER_TAG_BYTES,
  KEY_CHECK_BYTES,
  MAX_DIMENSION_BYTES,
  MAX_DIMENSIONS,
  MAX_SHARE_PLAINTEXT_BYTES,
} from './report';

/*
 * One receiver's share: key derivation, the two check values, and AES-256-GCM.
 *
 *   (K_enc, K_mac) = H4(U, D)
 *   key check  = HMAC-SHA-256(K_mac, "CBSG-V1-KCV" || u64 J)[0..8]       binds K to receiver index J
 *   header tag = HMAC-SHA-256(K_mac, "CBSG-V1-HDR" || header)[0..16]    the header as the meter wrote it
 *   ciphertext = AES-256-GCM(K_enc, iv, plaintext, aad = header || u64 J) || 16-byte tag
 *   iv         = 00 00 00 00 || u64 nonce
 *
 * The IV comes from the report's nonce, which the meter never repeats; a key lives at most one key
 * epoch of one meter, so no (key, IV) pair can repeat. The two labels have the same length and differ,
 * so the two MAC inputs can never collide.
 */

const LABEL_KCV = Buffer.from('CBSG-V1-KCV', 'ascii');
const LABEL_HDR = Buffer.from('CBSG-V1-HDR', 'ascii');

/** Keys of one share, ready to use: KeyObjects keep the raw bytes out of reach of logs. */
export interface ShareKeyMaterial {
  readonly enc: KeyObject;
  readonly mac: KeyObject;
  /** The key check this key must show for the receiver index it was derived for. */
  readonly keyCheck: Uint8Array;
}

function u64(value: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(value);
  return b;
}

export function deriveShareKeys(u: mcl.GT, d: Uint8Array, receiverIndex: bigint): ShareKeyMaterial {
  const { enc, mac } = h4(encodeGT(u), d);
  const keyCheck = new Uint8Array(
    createHmac('sha256', mac)
      .update(LABEL_KCV)
      .update(u64(receiverIndex))
      .digest()
      .subarray(0, KEY_CHECK_BYTES),
  );
  const material = { enc: createSecretKey(enc), mac: createSecretKey(mac), keyCheck };
  enc.fill(0);
  mac.fill(0);
  return material;
}

export function headerTag(keys: ShareKeyMaterial, header: Uint8Array): Uint8Array {
  return new Uint8Array(
    createHmac('sha256', keys.mac).update(LABEL_HDR).update(header).digest().subarray(0, HEADER_TAG_BYTES),
  );
}

export function checkHeaderTag(keys: ShareKeyMaterial, header: Uint8Array, tag: Uint8Array): boolean {
  return constantTimeEqual(headerTag(keys, header), tag);
}

function ivFor(nonce: bigint): Buffer {
  const iv = Buffer.alloc(12);
  iv.writeBigUInt64BE(nonce, 4);
  return iv;
}

export function encryptShare(
  keys: ShareKeyMaterial,
  nonce: bigint,
  header: Uint8Array,
  receiverIndex: bigint,
  plaintext: Uint8Array,
): Uint8Array {
  const c = createCipheriv('aes-256-gcm', keys.enc, ivFor(nonce), { authTagLength: GCM_TAG_BYTES });
  c.setAAD(header);
  c.setAAD(u64(receiverIndex));
  const body = c.update(plaintext);
  const final = c.final();
  const tag = c.getAuthTag();
  const out = new Uint8Array(body.length + final.length + tag.length);
  out.set(body, 0);
  out.set(final, body.length);
  out.set(tag, body.length + final.length);
  return out;
}

/** The plaintext, or undefined when GCM rejects the ciphertext (or its tag). */
export function decryptShare(
  keys: ShareKeyMaterial,
  nonce: bigint,
  header: Uint8Array,
  receiverIndex: bigint,
  ciphertext: Uint8Array,
): Uint8Array | undefined {
  const split = ciphertext.length - GCM_TAG_BYTES;
  const dc = createDecipheriv('aes-256-gcm', keys.enc, ivFor(nonce), { authTagLength: GCM_TAG_BYTES });
  dc.setAAD(header);
  dc.setAAD(u64(receiverIndex));
  dc.setAuthTag(ciphertext.subarray(split));
  const body = dc.update(ciphertext.subarray(0, split));
  try {
    dc.final();
  } catch {
    return undefined;
  }
  return new Uint8Array(body.buffer, body.byteOffset, body.length);
}

/** A share's key check value matches the expected one (constant time). */
export function keyCheckMatches(expected: Uint8Array, actual: Uint8Array): boolean {
  return constantTimeEqual(expected, actual);
}

// ---- plaintext of a share: the dimensions of the reading that go to one receiver ---------------

/** One dimension of a reading, with its position 0..v-1 in the meter's reading. */
export interface Dimension {
  readonly index: number;
  readonly value: Uint8Array;
}

/**
 *   u8 count, then count x { u8 dimension index, u8 len, value }    (indexes strictly increasing)
 */
export function encodeDimensions(dims: readonly Dimension[]): Uint8Array {
  if (dims.length > MAX_DIMENSIONS) {
    throw new LimitExceededError('dimensions in a share', MAX_DIMENSIONS, dims.length);
  }
  const w = new ByteWriter(64).u8(dims.length);
  for (const d of dims) {
    if (d.value.length > MAX_DIMENSION_BYTES) {
      throw new LimitExceededError(`dimension ${d.index}`, MAX_DIMENSION_BYTES, d.value.length);
    }
    w.u8(d.index).bytes8(d.value);
  }
  const out = w.finish();
  if (out.length > MAX_SHARE_PLAINTEXT_BYTES) {
    throw new LimitExceededError('share plaintext', MAX_SHARE_PLAINTEXT_BYTES, out.length);
  }
  return out;
}

export function decodeDimensions(plaintext: Uint8Array): Dimension[] {
  try {
    const r = new ByteReader(plaintext, 'share plaintext');
    const count = r.u8('count');
    const dims: Dimension[] = [];
    let last = -1;
    for (let i = 0; i < count; i++) {
      const index = r.u8('index');
      if (index <= last || index >= MAX_DIMENSIONS) {
        throw new ReportMalformedError('share plaintext: dimension indexes must increase');
      }
      last = index;
      dims.push({ index, value: r.bytes8('value').slice() });
    }
    r.end();
    return dims;
  } catch (e) {
    if (e instanceof ReportMalformedError) {
      throw e;
    }
    throw new ReportMalformedError('share plaintext does not decode (the meter wrote a bad share)');
  }
}
