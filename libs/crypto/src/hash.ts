import { createHash, createHmac } from 'node:crypto';

import { utf8 } from './bytes';
import { G1_BYTES, G2_BYTES, mcl, ready } from './mcl';

/*
 * Every hash of the scheme, each with its own domain-separation tag (DESIGN.md section 2, fix 5).
 * The tags are ASCII, versioned ("CBSG-V1-"), and never reused for two purposes, so that an output of
 * one hash can never be replayed as the output of another. Test vectors: libs/crypto/test/vectors.
 *
 *   name        output                 construction and tag
 *   H1          eta in Fr              hash_to_field (RFC 9380 5.2, expand_message_xmd SHA-256, L=48,
 *                                      m=1) of  u8 len(ID) || ID || alpha(48),
 *                                      DST "CBSG-V1-H1-PARTIAL-KEY_XMD:SHA-256"
 *   H2          beta in Fr             hash_to_field as H1 over the signing input (report.ts),
 *                                      DST "CBSG-V1-H2-SIGNATURE_XMD:SHA-256"
 *   H3          Q in G2                hash_to_curve (RFC 9380 3, BLS12381G2_XMD:SHA-256_SSWU_RO_)
 *                                      of Ypub1(48) || Ypub2(96),
 *                                      DST "CBSG-V1-H3-Q_BLS12381G2_XMD:SHA-256_SSWU_RO_"
 *   H4          K = K_enc || K_mac     HKDF-SHA-256 (RFC 5869), IKM = U(576, see encodeGT) || D as the
 *               (64 bytes)             report encodes it (48 bytes compressed in version 1, 96
 *                                      uncompressed from version 2), salt "CBSG-V1-H4",
 *                                      info "CBSG-V1-H4 share keys", L = 64
 *   f_Index     J, 64-bit, >= 1        1 + (first 8 bytes, big-endian, of
 *                                      SHA-256(u8 len(tag) || tag || u8 len(ID) || ID) mod (2^64 - 1)),
 *                                      tag "CBSG-V1-F-INDEX"
 *   key fp      8 bytes                first 8 bytes of tagged SHA-256 of Y_R(48), tag "CBSG-V1-KEY-FP"
 *   report id   32 bytes               tagged SHA-256 of the canonical report, tag "CBSG-V1-REPORT-ID"
 *
 * Tagged SHA-256 means SHA-256(u8 len(tag) || tag || data). IDs are ASCII (ids.ts) and always
 * length-prefixed, so no concatenation of variable fields is ambiguous.
 */

export const DST_H1 = 'CBSG-V1-H1-PARTIAL-KEY_XMD:SHA-256';
export const DST_H2 = 'CBSG-V1-H2-SIGNATURE_XMD:SHA-256';
export const DST_H3 = 'CBSG-V1-H3-Q_BLS12381G2_XMD:SHA-256_SSWU_RO_';
export const H4_SALT = 'CBSG-V1-H4';
export const H4_INFO = 'CBSG-V1-H4 share keys';
export const TAG_F_INDEX = 'CBSG-V1-F-INDEX';
export const TAG_KEY_FINGERPRINT = 'CBSG-V1-KEY-FP';
export const TAG_REPORT_ID = 'CBSG-V1-REPORT-ID';

const tagPrefixes = new Map<string, Uint8Array>();

function tagPrefix(tag: string): Uint8Array {
  let prefix = tagPrefixes.get(tag);
  if (prefix === undefined) {
    const t = utf8(tag);
    prefix = new Uint8Array(t.length + 1);
    prefix[0] = t.length;
    prefix.set(t, 1);
    tagPrefixes.set(tag, prefix);
  }
  return prefix;
}

export function taggedSha256(tag: string, ...parts: readonly Uint8Array[]): Uint8Array {
  const h = createHash('sha256').update(tagPrefix(tag));
  for (const p of parts) {
    h.update(p);
  }
  return new Uint8Array(h.digest());
}

const Z_PAD = new Uint8Array(64);

/**
 * expand_message_xmd with SHA-256 (RFC 9380 section 5.3.1). `msg` may be given in parts, which are
 * hashed as their concatenation, so callers need not copy large inputs together first.
 */
export function expandMessageXmd(
  msg: Uint8Array | readonly Uint8Array[],
  dst: string | Uint8Array,
  lenInBytes: number,
): Uint8Array {
  const dstBytes = typeof dst === 'string' ? utf8(dst) : dst;
  if (dstBytes.length > 255 || dstBytes.length === 0) {
    throw new RangeError('expand_message_xmd: DST must be 1..255 bytes');
  }
  const ell = Math.ceil(lenInBytes / 32);
  if (ell > 255 || lenInBytes > 65535) {
    throw new RangeError('expand_message_xmd: requested length too large');
  }
  const dstPrime = new Uint8Array(dstBytes.length + 1);
  dstPrime.set(dstBytes);
  dstPrime[dstBytes.length] = dstBytes.length;

  const h0 = createHash('sha256').update(Z_PAD);
  for (const part of Array.isArray(msg) ? (msg as readonly Uint8Array[]) : [msg as Uint8Array]) {
    h0.update(part);
  }
  const b0 = h0
    .update(Uint8Array.of(lenInBytes >> 8, lenInBytes & 0xff, 0))
    .update(dstPrime)
    .digest();

  const out = new Uint8Array(ell * 32);
  let prev: Uint8Array = createHash('sha256').update(b0).update(Uint8Array.of(1)).update(dstPrime).digest();
  out.set(prev, 0);
  for (let i = 2; i <= ell; i++) {
    const x = new Uint8Array(32);
    for (let j = 0; j < 32; j++) {
      x[j] = (b0[j] ?? 0) ^ (prev[j] ?? 0);
    }
    prev = createHash('sha256').update(x).update(Uint8Array.of(i)).update(dstPrime).digest();
    out.set(prev, (i - 1) * 32);
  }
  return out.subarray(0, lenInBytes);
}

/** hash_to_field into Fr (m = 1, L = 48, so the reduction bias is below 2^-128). */
export function hashToFr(msg: Uint8Array | readonly Uint8Array[], dst: string): mcl.Fr {
  ready();
  const fr = new mcl.Fr();
  fr.setBigEndianMod(expandMessageXmd(msg, dst, 48));
  return fr;
}

function fpFrom(bytes: Uint8Array): mcl.Fp {
  const fp = new mcl.Fp();
  fp.setBigEndianMod(bytes);
  return fp;
}

/**
 * hash_to_curve into G1 (RFC 9380, BLS12381G1_XMD:SHA-256_SSWU_RO_ with the caller's DST).
 * mcl in IRTF mode maps one field element with the simplified SWU map, the 11-isogeny and cofactor
 * clearing; clearing is a group homomorphism (multiplication by h_eff), so
 * clear(map(u0)) + clear(map(u1)) == clear(map(u0) + map(u1)), which is the RFC's output.
 * The interop test checks this against @noble/curves.
 */
export function hashToG1(msg: Uint8Array | readonly Uint8Array[], dst: string): mcl.G1 {
  ready();
  const u = expandMessageXmd(msg, dst, 128);
  return mcl.add(fpFrom(u.subarray(0, 64)).mapToG1(), fpFrom(u.subarray(64, 128)).mapToG1());
}

/** hash_to_curve into G2 (RFC 9380, BLS12381G2_XMD:SHA-256_SSWU_RO_ with the caller's DST). */
export function hashToG2(msg: Uint8Array | readonly Uint8Array[], dst: string): mcl.G2 {
  ready();
  const u = expandMessageXmd(msg, dst, 256);
  const fp2 = (offset: number): mcl.Fp2 => {
    const e = new mcl.Fp2();
    e.set_a(fpFrom(u.subarray(offset, offset + 64)));
    e.set_b(fpFrom(u.subarray(offset + 64, offset + 128)));
    return e;
  };
  return mcl.add(fp2(0).mapToG2(), fp2(128).mapToG2());
}

/** H1: eta = H1(ID || alpha), partial private key extraction. */
export function h1(id: string, alpha: Uint8Array): mcl.Fr {
  const idBytes = utf8(id);
  return hashToFr([Uint8Array.of(idBytes.length), idBytes, alpha], DST_H1);
}

/** H2: beta over the signing input of a report (see report.ts for its layout). */
export function h2(signingInput: readonly Uint8Array[]): mcl.Fr {
  return hashToFr(signingInput, DST_H2);
}

/** H3: Q = H3(Ypub), the G2 point every signature is a multiple of. */
export function h3(ypub1: Uint8Array, ypub2: Uint8Array): mcl.G2 {
  if (ypub1.length !== G1_BYTES || ypub2.length !== G2_BYTES) {
    throw new RangeError('H3 takes the encoded Ypub1 (48 bytes) and Ypub2 (96 bytes)');
  }
  return hashToG2([ypub1, ypub2], DST_H3);
}

export interface ShareKeys {
  /** AES-256-GCM key of the share. */
  readonly enc: Uint8Array;
  /** HMAC-SHA-256 key for the key check value and the header tag. */
  readonly mac: Uint8Array;
}

/**
 * H4: K = HKDF-SHA-256(U || D), split into an encryption key and a MAC key. U is the encoded GT
 * element (encodeGT), D the G1 point in its report's encoding (compressed in version 1, uncompressed
 * from version 2): both sides compute exactly these bytes.
 */
export function h4(u: Uint8Array, d: Uint8Array): ShareKeys {
  // RFC 5869 written out with HMAC (same output as crypto.hkdfSync, about half the cost: this runs
  // once per share key on the receiver's critical path).
  const prk = createHmac('sha256', H4_SALT_BYTES).update(u).update(d).digest();
  const t1 = createHmac('sha256', prk).update(H4_INFO_BYTES).update(ONE).digest();
  const t2 = createHmac('sha256', prk).update(t1).update(H4_INFO_BYTES).update(TWO).digest();
  prk.fill(0);
  return {
    enc: new Uint8Array(t1.buffer, t1.byteOffset, 32),
    mac: new Uint8Array(t2.buffer, t2.byteOffset, 32),
  };
}

const H4_SALT_BYTES = Buffer.from(H4_SALT, 'ascii');
const H4_INFO_BYTES = Buffer.from(H4_INFO, 'ascii');
const ONE = Uint8Array.of(1);
const TWO = Uint8Array.of(2);

/**
 * The GT element U as bytes, 576 of them: U lies in Fp12 = Fp6[w]/(w^2 - v),
 * Fp6 = Fp2[v]/(v^3 - (1 + u)), Fp2 = Fp[u]/(u^2 + 1). The 6 Fp2 coefficients are written in the
 * order c0.c0, c0.c1, c0.c2, c1.c0, c1.c1, c1.c2, each as (imaginary part, real part), each Fp
 * element as 48 big-endian bytes: mcl's serialisation in ETH mode, which the interop test relates to
 * @noble/curves' Fp12 coefficients.
 */
export function encodeGT(u: mcl.GT): Uint8Array {
  return u.serialize();
}

const U64_MASK = (1n << 64n) - 1n;

// Every report names its receivers, and there are few of them: remember their indexes.
const fIndexCache = new Map<string, bigint>();

/** f_Index: the receiver index J under which a receiver's share is filed, from its ID. */
export function fIndex(id: string): bigint {
  const known = fIndexCache.get(id);
  if (known !== undefined) {
    return known;
  }
  const idBytes = utf8(id);
  const digest = taggedSha256(TAG_F_INDEX, Uint8Array.of(idBytes.length), idBytes);
  const v = Buffer.from(digest.buffer, digest.byteOffset, 8).readBigUInt64BE(0);
  const index = 1n + (v % U64_MASK);
  if (fIndexCache.size >= 4096) {
    fIndexCache.clear();
  }
  fIndexCache.set(id, index);
  return index;
}

/** Short fingerprint of a receiver's public key, carried in the report header per receiver. */
export function keyFingerprint(publicKey: Uint8Array): Uint8Array {
  return taggedSha256(TAG_KEY_FINGERPRINT, publicKey).subarray(0, 8);
}
