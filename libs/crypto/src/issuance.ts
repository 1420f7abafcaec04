import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

import { concatBytes, utf8 } from './bytes';
import { CryptoError, MalformedEncodingError } from './errors';
import { h1, hashToFr } from './hash';
import { assertIdentifier } from './ids';
import { G1_BYTES, mcl, ready } from './mcl';
import { decodeG1, encodeG1 } from './points';
import { scalarOf, SecretScalar, secretFromFr } from './secret';
import { checkMasterKey, type PartialPrivateKey, SystemParams } from './system';

/*
 * How the control center hands out partial private keys (paper IV.B.1) in a real deployment.
 *
 * Idempotent issuance. r is derived from the master key and the registration it answers, as RFC 6979
 * derives ECDSA nonces:
 *
 *   r = hash_to_field(x (32 bytes, big-endian) || u8 len(id) || id || context, DST_ISSUANCE)
 *
 * so the same (identity, registration) always gets the same (alpha, h): a holder that lost the answer
 * can ask again, and never receives a second, different key. A different registration (context: its
 * transaction hash) gives an unrelated r. Without x nobody can predict r.
 *
 * Key transport. h travels encrypted to the holder's own key Y = x_H*P1 (ECIES on G1): the CC picks
 * e, sends E = e*P1 and AES-256-GCM(K, h) with K = HKDF-SHA-256(ikm = e*Y, salt = DST_TRANSPORT,
 * info = u8 len(id) || id || alpha); the holder computes x_H*E. Only the holder of x_H can open it,
 * and the key is bound to the identity and alpha it belongs to.
 */
export const DST_ISSUANCE = 'CBSG-V1-PARTIAL-KEY-ISSUANCE_XMD:SHA-256';
export const DST_TRANSPORT = 'CBSG-V1-PARTIAL-KEY-TRANSPORT';

/** A sealed partial key that does not open: wrong holder key, or tampered in transit. */
export class PartialKeyTransportError extends CryptoError {
  readonly code = 'CRYPTO.PARTIAL_KEY_TRANSPORT';
}

/** CC: the partial key of `id` for the registration named by `context` (same inputs, same key). */
export function issuePartialKey(
  masterKey: SecretScalar,
  params: SystemParams,
  id: string,
  context: Uint8Array,
): PartialPrivateKey {
  const { P1 } = ready();
  assertIdentifier(id, 'identity');
  checkMasterKey(params, masterKey);
  const x = scalarOf(masterKey);
  const idBytes = utf8(id);
  const r = hashToFr([x.serialize(), Uint8Array.of(idBytes.length), idBytes, context], DST_ISSUANCE);
  if (r.isZero()) {
    // Probability 2^-255; refuse rather than issue alpha = identity.
    throw new PartialKeyTransportError('derived r is zero');
  }
  const alpha = encodeG1(mcl.mul(P1, r));
  const h = mcl.add(r, mcl.mul(h1(id, alpha), x));
  r.clear();
  return { id, alpha, h: secretFromFr(h) };
}

export interface SealedPartialKey {
  id: string;
  alpha: Uint8Array;
  /** E = e*P1, compressed G1. */
  ephemeral: Uint8Array;
  /** 12-byte IV || ciphertext of h (32 bytes) || 16-byte tag. */
  sealed: Uint8Array;
}

function transportKey(shared: mcl.G1, id: string, alpha: Uint8Array): Buffer {
  const idBytes = utf8(id);
  const info = concatBytes(Uint8Array.of(idBytes.length), idBytes, alpha);
  return Buffer.from(hkdfSync('sha256', encodeG1(shared), utf8(DST_TRANSPORT), info, 32));
}

/** CC: encrypts a partial key to its holder's public key Y (checked: curve, subgroup, identity). */
export function sealPartialKey(partial: PartialPrivateKey, holderPublicKey: Uint8Array): SealedPartialKey {
  const { P1 } = ready();
  const y = decodeG1(holderPublicKey, 'holder public key');
  const e = new mcl.Fr();
  e.setByCSPRNG();
  const ephemeral = encodeG1(mcl.mul(P1, e));
  const key = transportKey(mcl.mul(y, e), partial.id, partial.alpha);
  e.clear();
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(scalarOf(partial.h).serialize()), cipher.final()]);
  return {
    id: partial.id,
    alpha: partial.alpha,
    ephemeral,
    sealed: concatBytes(iv, body, cipher.getAuthTag()),
  };
}

/** Holder: opens the sealed h with its own secret; the caller then runs checkPartialKey. */
export function openPartialKey(sealed: SealedPartialKey, holderSecret: SecretScalar): PartialPrivateKey {
  ready();
  if (sealed.sealed.length !== 12 + 32 + 16) {
    throw new MalformedEncodingError('sealed partial key', `expected 60 bytes, got ${sealed.sealed.length}`);
  }
  if (sealed.ephemeral.length !== G1_BYTES) {
    throw new MalformedEncodingError('ephemeral key', `expected ${G1_BYTES} bytes`);
  }
  const e = decodeG1(sealed.ephemeral, 'ephemeral key');
  const key = transportKey(mcl.mul(e, scalarOf(holderSecret)), sealed.id, sealed.alpha);
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.sealed.subarray(0, 12));
  decipher.setAuthTag(sealed.sealed.subarray(44));
  let h: Buffer;
  try {
    h = Buffer.concat([decipher.update(sealed.sealed.subarray(12, 44)), decipher.final()]);
  } catch {
    throw new PartialKeyTransportError(
      'the sealed partial key does not open with this key (wrong holder, or tampered)',
    );
  }
  return { id: sealed.id, alpha: sealed.alpha.slice(), h: SecretScalar.fromBytes(h, 'partial key h') };
}
