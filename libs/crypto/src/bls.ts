import { hkdfSync } from 'node:crypto';

import { concatBytes, utf8 } from './bytes';
import { CryptoError, InvalidIdentifierError, PointIsIdentityError } from './errors';
import { hashToG2 } from './hash';
import { assertIdentifier } from './ids';
import { G1_BYTES, mcl, ready } from './mcl';
import { msmG1, msmG2 } from './msm';
import { decodeG1, decodeG2, encodeG1, encodeG2, PointCheck } from './points';
import { randomWeights64, RandomSource, systemRandom } from './random';
import { randomSecretWithRandom, scalarOf, SecretScalar } from './secret';

/*
 * BLS signatures for blocks and votes (and node-link keys, at the end): the IETF scheme
 * (draft-irtf-cfrg-bls-signature) in its minimal-pubkey-size variant with proofs of possession,
 * ciphersuite BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_: public keys in G1 (48 bytes), signatures
 * in G2 (96 bytes), messages hashed to G2 by RFC 9380.
 *
 * Domain separation (Lisk-style tag + chain ID) sits in the message, so that any implementation of
 * the standard ciphersuite verifies our signatures unchanged:
 *
 *   signed bytes = u8 len(tag) || tag || u8 len(chainId) || chainId || message
 *
 * A proof of possession is the ciphersuite's PopProve (the public key's bytes signed under
 * BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_); registration must check it, which is what makes
 * aggregating public keys safe against rogue keys.
 */

export const BLS_SIGNATURE_DST = 'BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_';
export const BLS_POP_DST = 'BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_';

/** The tags this project signs under; one per kind of signed object. */
export const BLS_TAGS = Object.freeze({
  block: 'CBSG-BLOCK-V1',
  vote: 'CBSG-VOTE-V1',
});

export interface BlsDomain {
  /** What is signed (BLS_TAGS). */
  readonly tag: string;
  /** Which chain: a signature on one chain is worthless on another. */
  readonly chainId: string;
}

export function blsSigningBytes(domain: BlsDomain, message: Uint8Array): Uint8Array {
  assertIdentifier(domain.tag, 'BLS tag');
  assertIdentifier(domain.chainId, 'chain id');
  const tag = utf8(domain.tag);
  const chain = utf8(domain.chainId);
  const out = new Uint8Array(2 + tag.length + chain.length + message.length);
  out[0] = tag.length;
  out.set(tag, 1);
  out[1 + tag.length] = chain.length;
  out.set(chain, 2 + tag.length);
  out.set(message, 2 + tag.length + chain.length);
  return out;
}

/**
 * Hash a message to G2 under the signature DST. mcl's own hashAndMapToG2 in IRTF mode is RFC 9380
 * with exactly this DST (checked against @noble/curves in the interop test) and is faster than
 * composing the map ourselves, so it is used here; other DSTs go through hash.ts.
 */
function hashMessage(signed: Uint8Array): mcl.G2 {
  return mcl.hashAndMapToG2(signed);
}

let pointOf: (pk: BlsPublicKey) => mcl.G1;
let makeKey: (bytes: Uint8Array, point: mcl.G1) => BlsPublicKey;

/** A BLS public key, decoded and checked once (at registration); keep and reuse it. */
export class BlsPublicKey {
  readonly #point: mcl.G1;

  static {
    pointOf = (pk) => pk.#point;
    makeKey = (bytes, point) => new BlsPublicKey(bytes, point);
  }

  private constructor(
    readonly bytes: Uint8Array,
    point: mcl.G1,
  ) {
    this.#point = point;
  }

  /** A key from outside: curve, subgroup and identity checked (KeyValidate of the IETF draft). */
  static fromBytes(bytes: Uint8Array): BlsPublicKey {
    return decodeKey(bytes, 'full');
  }

  /** A key read back from our own storage, checked when it was registered. */
  static fromTrustedBytes(bytes: Uint8Array): BlsPublicKey {
    return decodeKey(bytes, 'trusted');
  }
}

function decodeKey(bytes: Uint8Array, check: PointCheck): BlsPublicKey {
  return makeKey(bytes.slice(), decodeG1(bytes, 'BLS public key', check));
}

export interface BlsKeyPair {
  readonly secret: SecretScalar;
  readonly publicKey: Uint8Array;
}

export function blsGenerateKey(): BlsKeyPair {
  return blsGenerateKeyWithRandom(systemRandom);
}

export function blsGenerateKeyWithRandom(rng: RandomSource): BlsKeyPair {
  ready();
  const secret = randomSecretWithRandom(rng);
  return { secret, publicKey: blsPublicKeyOf(secret) };
}

export function blsPublicKeyOf(secret: SecretScalar): Uint8Array {
  const { P1 } = ready();
  return encodeG1(mcl.mul(P1, scalarOf(secret)));
}

export function blsSign(secret: SecretScalar, domain: BlsDomain, message: Uint8Array): Uint8Array {
  ready();
  return encodeG2(mcl.mul(hashMessage(blsSigningBytes(domain, message)), scalarOf(secret)));
}

/**
 * The aggregate of each secret's signature on one message, made as one multiplication by the sum of
 * the secrets: sum(sk_i * H(m)) = (sum sk_i) * H(m). A node hosting many delegates signs their votes
 * on a block this way, one hash and one multiplication instead of one of each per delegate.
 */
export function blsSignAggregate(
  secrets: readonly SecretScalar[],
  domain: BlsDomain,
  message: Uint8Array,
): Uint8Array {
  ready();
  if (secrets.length === 0) {
    throw new RangeError('nothing to sign with');
  }
  let sum = scalarOf(secrets[0] as SecretScalar);
  for (let i = 1; i < secrets.length; i++) {
    sum = mcl.add(sum, scalarOf(secrets[i] as SecretScalar));
  }
  return encodeG2(mcl.mul(hashMessage(blsSigningBytes(domain, message)), sum));
}

/** e(pk, H) == e(P1, sig) as one multi-pairing. */
function pairingCheck(pk: mcl.G1, h: mcl.G2, sig: mcl.G2): boolean {
  const { negP1 } = ready();
  return mcl.finalExp(mcl.mul(mcl.millerLoop(pk, h), mcl.millerLoop(negP1, sig))).isOne();
}

/** A signature from outside: curve, subgroup, identity; undefined when it does not decode. */
function decodeSignature(bytes: Uint8Array): mcl.G2 | undefined {
  try {
    return decodeG2(bytes, 'BLS signature');
  } catch (e) {
    if (e instanceof CryptoError) {
      return undefined;
    }
    throw e;
  }
}

/** True iff `signature` is a valid signature of `message` under `publicKey` in `domain`. */
export function blsVerify(
  publicKey: BlsPublicKey,
  domain: BlsDomain,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  ready();
  const sig = decodeSignature(signature);
  return (
    sig !== undefined && pairingCheck(pointOf(publicKey), hashMessage(blsSigningBytes(domain, message)), sig)
  );
}

/** Proof of possession of the secret key (PopProve). */
export function blsProvePossession(secret: SecretScalar): Uint8Array {
  ready();
  const pk = blsPublicKeyOf(secret);
  return encodeG2(mcl.mul(hashToG2(pk, BLS_POP_DST), scalarOf(secret)));
}

/** PopVerify: checked once, when a delegate registers its key. */
export function blsVerifyPossession(publicKey: BlsPublicKey, proof: Uint8Array): boolean {
  ready();
  const sig = decodeSignature(proof);
  return sig !== undefined && pairingCheck(pointOf(publicKey), hashToG2(publicKey.bytes, BLS_POP_DST), sig);
}

/** Sum of signatures (each checked in full first). */
export function blsAggregateSignatures(signatures: readonly Uint8Array[]): Uint8Array {
  ready();
  if (signatures.length === 0) {
    throw new RangeError('nothing to aggregate');
  }
  let acc: mcl.G2 | undefined;
  for (const [i, s] of signatures.entries()) {
    const p = decodeG2(s, `BLS signature ${i}`);
    acc = acc === undefined ? p : mcl.add(acc, p);
  }
  return encodeG2(acc as mcl.G2);
}

/**
 * FastAggregateVerify: many signers, one message (votes on a block). Safe only for keys whose proof
 * of possession was checked at registration.
 */
export function blsFastAggregateVerify(
  publicKeys: readonly BlsPublicKey[],
  domain: BlsDomain,
  message: Uint8Array,
  aggregateSignature: Uint8Array,
): boolean {
  ready();
  if (publicKeys.length === 0) {
    return false;
  }
  const sig = decodeSignature(aggregateSignature);
  if (sig === undefined) {
    return false;
  }
  let apk = pointOf(publicKeys[0] as BlsPublicKey);
  for (let i = 1; i < publicKeys.length; i++) {
    apk = mcl.add(apk, pointOf(publicKeys[i] as BlsPublicKey));
  }
  return pairingCheck(apk, hashMessage(blsSigningBytes(domain, message)), sig);
}

export interface BlsBatchItem {
  readonly publicKey: BlsPublicKey;
  readonly domain: BlsDomain;
  readonly message: Uint8Array;
  readonly signature: Uint8Array;
}

/**
 * Many (public key, message, signature) triples in one check, with random 64-bit weights:
 *   e(P1, sum r_i*sig_i) == prod over distinct messages m of e(sum_{i: m_i = m} r_i*pk_i, H(m))
 * Items sharing a message share one Miller loop. On failure the batch is bisected (same weights),
 * so the result names exactly the invalid items.
 */
export function blsBatchVerify(items: readonly BlsBatchItem[]): { allValid: boolean; invalid: number[] } {
  const { negP1 } = ready();
  const bad: number[] = [];
  const sigs: (mcl.G2 | undefined)[] = items.map((it) => decodeSignature(it.signature));
  const idx: number[] = [];
  for (const [i, s] of sigs.entries()) {
    if (s === undefined) {
      bad.push(i);
    } else {
      idx.push(i);
    }
  }
  const weights = randomWeights64(items.length, systemRandom);
  const signed = items.map((it) => blsSigningBytes(it.domain, it.message));
  const hashes = new Map<string, mcl.G2>();
  const hashOf = (i: number): { key: string; h: mcl.G2 } => {
    const bytes = signed[i] as Uint8Array;
    const key = Buffer.from(bytes).toString('latin1');
    let h = hashes.get(key);
    if (h === undefined) {
      h = hashMessage(bytes);
      hashes.set(key, h);
    }
    return { key, h };
  };

  const check = (subset: readonly number[]): boolean => {
    const byMessage = new Map<string, { h: mcl.G2; pks: mcl.G1[]; ws: mcl.Fr[] }>();
    const sigPoints: mcl.G2[] = [];
    const sigWeights: mcl.Fr[] = [];
    for (const i of subset) {
      const { key, h } = hashOf(i);
      let group = byMessage.get(key);
      if (group === undefined) {
        group = { h, pks: [], ws: [] };
        byMessage.set(key, group);
      }
      group.pks.push(pointOf((items[i] as BlsBatchItem).publicKey));
      group.ws.push(weights[i] as mcl.Fr);
      sigPoints.push(sigs[i] as mcl.G2);
      sigWeights.push(weights[i] as mcl.Fr);
    }
    let f = mcl.millerLoop(negP1, msmG2(sigPoints, sigWeights));
    for (const g of byMessage.values()) {
      f = mcl.mul(f, mcl.millerLoop(msmG1(g.pks, g.ws), g.h));
    }
    return mcl.finalExp(f).isOne();
  };

  const bisect = (subset: readonly number[]): void => {
    if (subset.length === 1) {
      bad.push(subset[0] as number);
      return;
    }
    const mid = subset.length >>> 1;
    const left = subset.slice(0, mid);
    const right = subset.slice(mid);
    if (check(left)) {
      bisect(right);
      return;
    }
    bisect(left);
    if (!check(right)) {
      bisect(right);
    }
  };
  if (idx.length > 0 && !check(idx)) {
    bisect(idx);
  }
  bad.sort((a, b) => a - b);
  return { allValid: bad.length === 0, invalid: bad };
}

export const BLS_PUBLIC_KEY_BYTES = G1_BYTES;

/** HKDF salt of node-link keys; a key derived under it serves nothing else. */
export const NODE_LINK_DST = 'CBSG-NODE-LINK-V1';

/** Bytes of a node-link key (an HMAC-SHA256 key). */
export const NODE_LINK_KEY_BYTES = 32;

/**
 * The key two accounting nodes share to authenticate their messages to each other: static
 * Diffie-Hellman on their genesis keys (sk_a * PK_b = sk_b * PK_a, in G1), through HKDF-SHA256 with
 * the chain id and both node ids, sorted, as info. Only the two nodes can compute it; a message MACed
 * with it proves to the one that it comes from the other, which is all a peer's envelope is for (what
 * it carries is signed on its own). A MAC costs microseconds where a BLS check costs two pairings.
 *
 * The peer's key must be a checked one (genesis keys are, with their proofs of possession); the
 * secret signs BLS in G2, so this product in G1 is not something a signature ever reveals.
 */
export function nodeLinkKey(
  secret: SecretScalar,
  peer: BlsPublicKey,
  chainId: string,
  nodeIds: readonly [string, string],
): Buffer {
  ready();
  assertIdentifier(chainId, 'chain id');
  for (const id of nodeIds) {
    assertIdentifier(id, 'node id');
  }
  if (nodeIds[0] === nodeIds[1]) {
    throw new InvalidIdentifierError('node ids', 'a node-link key joins two different nodes');
  }
  const shared = mcl.mul(pointOf(peer), scalarOf(secret));
  if (shared.isZero()) {
    throw new PointIsIdentityError('node-link shared point');
  }
  const lengthPrefixed = (text: string) => {
    const bytes = utf8(text);
    return concatBytes(Uint8Array.of(bytes.length), bytes);
  };
  const info = concatBytes(...[chainId, ...[...nodeIds].sort()].map(lengthPrefixed));
  return Buffer.from(hkdfSync('sha256', encodeG1(shared), utf8(NODE_LINK_DST), info, NODE_LINK_KEY_BYTES));
}
