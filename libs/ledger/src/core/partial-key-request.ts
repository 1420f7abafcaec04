import { z } from 'zod';

/**
 * A holder (meter or receiver) asks the control center for its partial private key by signing
 * "<subject>:<identity>:<timestamp>" with BLS under the tag below and the chain id, with the secret x
 * of the public key Y it registered (Y = x*P1 is a BLS public key). The CC checks the signature
 * against the registered Y, so only the registrant gets the key, and the answer is sealed to Y anyway.
 *
 *   POST {cc}/partial-keys/{identity}   { subject, timestamp, signature }
 *   200 { identity, subject, alpha, ephemeral, sealed, tx }   (hex; sealed as @app/crypto SealedPartialKey)
 */
export const PARTIAL_KEY_REQUEST_TAG = 'CBSG-PARTIAL-KEY-REQUEST-V1';

export type PartialKeySubject = 'meter' | 'receiver';

export function partialKeyRequestMessage(
  subject: PartialKeySubject,
  identity: string,
  timestamp: number,
): Uint8Array {
  return Buffer.from(`${subject}:${identity}:${timestamp}`, 'utf8');
}

export const partialKeyRequestSchema = z
  .object({
    subject: z.enum(['meter', 'receiver']),
    timestamp: z.number().int().nonnegative(),
    signature: z.string().regex(/^[0-9a-f]{192}$/, 'must be a 96-byte BLS signature in hex'),
  })
  .strict();

export type PartialKeyRequest = z.infer<typeof partialKeyRequestSchema>;

export interface PartialKeyResponse {
  identity: string;
  subject: PartialKeySubject;
  /** alpha = r*P1 (hex): also published on the chain by the CC's cc.partial-key transaction. */
  alpha: string;
  /** E = e*P1 (hex) and the sealed h (hex): @app/crypto openPartialKey opens them. */
  ephemeral: string;
  sealed: string;
  /** Hash of the cc.partial-key transaction that activated the identity. */
  tx: string;
}
