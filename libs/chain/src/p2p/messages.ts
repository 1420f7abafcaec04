import { hash } from 'node:crypto';

import { z } from 'zod';

import {
  BLS_TAGS,
  type BlsPublicKey,
  blsSign,
  blsVerify,
  fromHex,
  type SecretScalar,
  toHex,
} from '@app/crypto';
import { canonicalJson, DomainError } from '@app/kernel';

/**
 * Messages between accounting nodes (DESIGN.md section 4). Each is signed by the sending node's key
 * (from the genesis document) with BLS under tag CBSG-NODE-MSG-V1 and the chain id, over
 *
 *   SHA-256(canonical JSON of { from, type, timestamp, payload })
 *
 * A node refuses messages from unknown senders, with a bad signature, or more than a minute off its
 * clock. Payloads are self-checking anyway (signed transactions, signed reports, signed blocks, signed
 * votes): the node signature authenticates the peer, it does not replace those checks.
 */
export const MESSAGE_TYPES = ['transactions', 'reports', 'block', 'votes'] as const;
export type MessageType = (typeof MESSAGE_TYPES)[number];

export const MESSAGE_WINDOW_MS = 60_000;

/**
 * The largest message a node takes, in bytes of JSON. Blocks travel whole: a block of the default
 * MAX_BLOCK_TRANSACTIONS (5,000) typical reports is about 7 MB. A larger block is not sent; peers
 * fetch it by catch-up, which has no such limit. Report gossip is cut well below it.
 */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

export const nodeMessageSchema = z
  .object({
    from: z.string().min(1).max(64),
    type: z.enum(MESSAGE_TYPES),
    timestamp: z.number().int().nonnegative(),
    payload: z.record(z.string(), z.unknown()),
    signature: z.string().regex(/^[0-9a-f]{192}$/),
  })
  .strict();

export type NodeMessage = z.infer<typeof nodeMessageSchema>;

export class MessageRefusedError extends DomainError {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function digest(message: Omit<NodeMessage, 'signature'>): Uint8Array {
  return hash(
    'sha256',
    canonicalJson({
      from: message.from,
      type: message.type,
      timestamp: message.timestamp,
      payload: message.payload,
    }),
    'buffer',
  );
}

export function signMessage(
  key: SecretScalar,
  chainId: string,
  from: string,
  type: MessageType,
  payload: Record<string, unknown>,
  timestamp = Date.now(),
): NodeMessage {
  const unsigned = { from, type, timestamp, payload };
  return {
    ...unsigned,
    signature: toHex(blsSign(key, { tag: BLS_TAGS.nodeMessage, chainId }, digest(unsigned))),
  };
}

/** Parses and authenticates a message; throws MessageRefusedError with the reason. */
export function openMessage(
  value: unknown,
  chainId: string,
  keyOf: (nodeId: string) => BlsPublicKey | undefined,
  now = Date.now(),
): NodeMessage {
  const parsed = nodeMessageSchema.safeParse(value);
  if (!parsed.success) {
    throw new MessageRefusedError(
      'P2P.MALFORMED',
      parsed.error.issues.map((i) => `${i.path.join('.') || 'message'} ${i.message}`).join('; '),
    );
  }
  const message = parsed.data;
  const key = keyOf(message.from);
  if (!key) {
    throw new MessageRefusedError('P2P.UNKNOWN_SENDER', `${message.from} is not a node of this consortium`);
  }
  if (Math.abs(now - message.timestamp) > MESSAGE_WINDOW_MS) {
    throw new MessageRefusedError(
      'P2P.STALE',
      `the message is ${Math.round((now - message.timestamp) / 1000)} s off this node's clock`,
    );
  }
  let signed: Uint8Array;
  try {
    signed = digest(message);
  } catch (error) {
    // What canonical JSON cannot hash (an unsafe integer, a lone surrogate) no peer can have signed.
    throw new MessageRefusedError(
      'P2P.MALFORMED',
      `the payload cannot be hashed: ${(error as Error).message}`,
    );
  }
  if (
    !blsVerify(
      key,
      { tag: BLS_TAGS.nodeMessage, chainId },
      signed,
      fromHex(message.signature, 'signature', 96),
    )
  ) {
    throw new MessageRefusedError('P2P.BAD_SIGNATURE', `the message is not signed by ${message.from}`);
  }
  return message;
}
