import { hash } from 'node:crypto';

import { z } from 'zod';

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

/**
 * What an owner's endpoint receives as the body of a notification, all of it signed: the action (its
 * `id` is the one to deduplicate on: the Idempotency-Key header is not signed), which meter and
 * trigger, which organisation, and `signedAt` (epoch ms), when the receiver signed it, so that an
 * owner refuses a notification captured and replayed later (verifyNotification's maxAgeMs).
 */
export const notificationBody = z.object({
  meterId: z.string(),
  trigger: z.string(),
  action: z.object({
    id: z.string().min(1),
    type: z.string(),
    message: z.string(),
    params: z.record(z.string(), z.unknown()).optional(),
  }),
  from: z.string(),
  signedAt: z.number().int().nonnegative(),
});
export type NotificationBody = z.infer<typeof notificationBody>;

/**
 * How old a notification's signature an owner takes by default. The receiver signs a notification
 * again, with a fresh signedAt, when it posts one signed more than NOTIFY_RESIGN_AFTER_MS earlier
 * (feedback-contract.ts), so whatever its retries, back-off and outages, what it posts was signed
 * less than an hour and a post's 10 s before; a day leaves room for an owner's clock that is off.
 */
export const NOTIFICATION_MAX_AGE_MS = 24 * 3_600_000;

/** How far in the future an owner takes a notification's signedAt by default (clocks differ). */
export const NOTIFICATION_MAX_SKEW_MS = 5 * 60_000;

export interface NotificationFreshness {
  /** The oldest signedAt taken is `now - maxAgeMs` (default NOTIFICATION_MAX_AGE_MS). */
  maxAgeMs?: number;
  /** The latest signedAt taken is `now + maxSkewMs` (default NOTIFICATION_MAX_SKEW_MS). */
  maxSkewMs?: number;
  /** The owner's time, epoch ms (default Date.now()). */
  now?: number;
}

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

/**
 * The body of a notification, parsed, if the holder of `signer` signed it as one of a batch (see
 * NOTIFY_BATCH_TAG) and signed it recently (`freshness`); undefined otherwise: a forged or changed
 * body, a body of another form, or one signed too long ago (a replay) or in the future. An owner
 * must still take each `action.id` once: a replay within maxAgeMs verifies.
 */
export function verifyNotification(
  body: string,
  headers: Partial<Record<string, string | string[] | undefined>>,
  signer: BlsPublicKey,
  chainId: string,
  freshness: NotificationFreshness = {},
): NotificationBody | undefined {
  const header = (name: string) => {
    const value = headers[name];
    return typeof value === 'string' ? value : undefined;
  };
  const signature = header(NOTIFICATION_HEADERS.signature);
  const root = header(NOTIFICATION_HEADERS.root);
  const proof = decodeMerkleProof(header(NOTIFICATION_HEADERS.proof) ?? '');
  if (!signature || !/^[0-9a-f]{192}$/.test(signature) || !root || !/^[0-9a-f]{64}$/.test(root) || !proof) {
    return undefined;
  }
  const rootBytes = Buffer.from(root, 'hex');
  if (
    !verifyMerkleProof(bodyDigest(body), proof, rootBytes) ||
    !blsVerify(signer, { tag: NOTIFY_BATCH_TAG, chainId }, rootBytes, Buffer.from(signature, 'hex'))
  ) {
    return undefined;
  }
  const parsed = parseNotificationBody(body);
  const now = freshness.now ?? Date.now();
  if (
    !parsed ||
    parsed.signedAt < now - (freshness.maxAgeMs ?? NOTIFICATION_MAX_AGE_MS) ||
    parsed.signedAt > now + (freshness.maxSkewMs ?? NOTIFICATION_MAX_SKEW_MS)
  ) {
    return undefined;
  }
  return parsed;
}

/** A notification's body, if it is one (JSON of the notificationBody form). */
export function parseNotificationBody(body: string): NotificationBody | undefined {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return undefined;
  }
  const parsed = notificationBody.safeParse(json);
  return parsed.success ? parsed.data : undefined;
}
