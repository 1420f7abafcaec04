import { hash } from 'node:crypto';

import { type BlsPublicKey, blsSign, blsVerify, type SecretScalar, toHex } from '@app/crypto';
import { type MerkleProof, merkleProofs, merkleRoot, verifyMerkleProof } from '@app/ledger';

/**
 * Domain of the organisation's BLS signature on a batch of notifications: it signs the Merkle root
 * (libs/ledger merkle.ts) over the SHA-256 of each notification's body, once per batch, and each
 * notification carries the root, the signature and its own path to the root. An owner checks one
 * notification alone: the path from SHA-256(body) to the root, then the signature on the root. One
 * BLS signature (a hash to G2, about 3 ms here) per block of results instead of one per notification.
 */
export const NOTIFY_BATCH_TAG = 'CBSG-NOTIFY-BATCH-V1';

/** What a notification carries besides its body, as HTTP headers (lower case). */
export interface NotificationSignature {
  /** X-CBSG-Signature: BLS (NOTIFY_BATCH_TAG, the chain id) over the 32-byte root, hex. */
  signature: string;
  /** X-CBSG-Merkle-Root: hex. */
  root: string;
  /** X-CBSG-Merkle-Proof: "index/leafCount/sibling,sibling,..." (siblings hex, from the leaf up). */
  proof: string;
}

export const NOTIFICATION_HEADERS = {
  signature: 'x-cbsg-signature',
  root: 'x-cbsg-merkle-root',
  proof: 'x-cbsg-merkle-proof',
} as const;

function bodyDigest(body: string): Uint8Array {
  return hash('sha256', Buffer.from(body, 'utf8'), 'buffer');
}

export function encodeMerkleProof(proof: MerkleProof): string {
  return `${proof.index}/${proof.leafCount}/${proof.siblings.map((s) => toHex(s)).join(',')}`;
}

export function decodeMerkleProof(text: string): MerkleProof | undefined {
  const match = /^(\d{1,9})\/(\d{1,9})\/((?:[0-9a-f]{64})(?:,[0-9a-f]{64}){0,63})?$/.exec(text);
  if (!match) {
    return undefined;
  }
  return {
    index: Number(match[1]),
    leafCount: Number(match[2]),
    siblings: match[3] ? match[3].split(',').map((s) => Buffer.from(s, 'hex')) : [],
  };
}

/** Signs the bodies as one batch: one signature, and each body's own proof. */
export function signNotifications(
  bodies: readonly string[],
  key: SecretScalar,
  chainId: string,
): NotificationSignature[] {
  if (bodies.length === 0) {
    return [];
  }
  const digests = bodies.map(bodyDigest);
  const root = merkleRoot(digests);
  const signature = toHex(blsSign(key, { tag: NOTIFY_BATCH_TAG, chainId }, root));
  const rootHex = toHex(root);
  return merkleProofs(digests).map((proof) => ({
    signature,
    root: rootHex,
    proof: encodeMerkleProof(proof),
  }));
}

/** True if `body` is one of the bodies the holder of `signer` signed as a batch (see NOTIFY_BATCH_TAG). */
export function verifyNotification(
  body: string,
  headers: Partial<Record<string, string | string[] | undefined>>,
  signer: BlsPublicKey,
  chainId: string,
): boolean {
  const header = (name: string) => {
    const value = headers[name];
    return typeof value === 'string' ? value : undefined;
  };
  const signature = header(NOTIFICATION_HEADERS.signature);
  const root = header(NOTIFICATION_HEADERS.root);
  const proof = decodeMerkleProof(header(NOTIFICATION_HEADERS.proof) ?? '');
  if (!signature || !/^[0-9a-f]{192}$/.test(signature) || !root || !/^[0-9a-f]{64}$/.test(root) || !proof) {
    return false;
  }
  const rootBytes = Buffer.from(root, 'hex');
  return (
    verifyMerkleProof(bodyDigest(body), proof, rootBytes) &&
    blsVerify(signer, { tag: NOTIFY_BATCH_TAG, chainId }, rootBytes, Buffer.from(signature, 'hex'))
  );
}
