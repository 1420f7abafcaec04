import { createHmac, hash, timingSafeEqual } from 'node:crypto';

import { z } from 'zod';

import { canonicalJson, DomainError } from '@app/kernel';

/**
 * Messages between accounting nodes (DESIGN.md section 4). Each is authenticated for the node it is
 * sent to with HMAC-SHA256 under the two nodes' link key (`nodeLinkKey`: Diffie-Hellman on their
 * genesis keys, bound to the chain id and both node ids), over
 *
 *   SHA-256(canonical JSON of { from, type, timestamp, payload })
 *
 * A node refuses messages from unknown senders, with a bad MAC, or more than a minute off its clock.
 * Payloads are self-checking anyway (signed transactions, signed reports, signed blocks, signed
 * votes): the MAC authenticates the peer, it does not replace those checks. It replaced a BLS
 * signature, whose check (two pairings) every node paid for every message of every peer; a relayed
 * message is MACed again by the node that relays it, so nothing needs a third party to check it.
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
    mac: z.string().regex(/^[0-9a-f]{64}$/),
  })
  .strict();

export type NodeMessage = z.infer<typeof nodeMessageSchema>;

/** The largest height (and u64) the chain encodes. */
const MAX_U64 = 2n ** 64n - 1n;

/**
 * A block height as a peer sends it (status, votes): a decimal u64 without sign, exponent or leading
 * zeros. Anything else is undefined, never an exception: BigInt("x") throws a SyntaxError, which a
 * caller that forgot would answer with a 500 or let abort the work it was part of.
 */
export function wireHeight(value: unknown): bigint | undefined {
  if (typeof value !== 'string' || !/^(0|[1-9][0-9]{0,19})$/.test(value)) {
    return undefined;
  }
  const height = BigInt(value);
  return height <= MAX_U64 ? height : undefined;
}

export class MessageRefusedError extends DomainError {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

type MessageContent = Omit<NodeMessage, 'mac'>;

function digest(message: MessageContent): Buffer {
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

function macOf(linkKey: Uint8Array, messageDigest: Uint8Array): Buffer {
  return createHmac('sha256', linkKey).update(messageDigest).digest();
}

/**
 * A message to send to several peers: hashed and serialised once, then MACed for each one with its
 * link key (the body differs only in the MAC).
 */
export class OutgoingMessage {
  private readonly digest: Buffer;
  private readonly json: string;

  constructor(from: string, type: MessageType, payload: Record<string, unknown>, timestamp = Date.now()) {
    const content: MessageContent = { from, type, timestamp, payload };
    this.digest = digest(content);
    this.json = JSON.stringify(content);
  }

  /** Bytes of JSON of the body, but for the MAC's few. */
  get size(): number {
    return Buffer.byteLength(this.json);
  }

  /** The JSON body for the peer that shares `linkKey` with this node. */
  bodyFor(linkKey: Uint8Array): string {
    return `${this.json.slice(0, -1)},"mac":"${macOf(linkKey, this.digest).toString('hex')}"}`;
  }
}

/** One message, authenticated for one peer (tests and tools; nodes broadcast OutgoingMessage). */
export function sealMessage(
  linkKey: Uint8Array,
  from: string,
  type: MessageType,
  payload: Record<string, unknown>,
  timestamp = Date.now(),
): NodeMessage {
  return JSON.parse(new OutgoingMessage(from, type, payload, timestamp).bodyFor(linkKey)) as NodeMessage;
}

/**
 * Parses and authenticates a message; throws MessageRefusedError with the reason. `linkKeyOf` gives
 * the key this node shares with a node of the consortium, undefined for anyone else.
 */
export function openMessage(
  value: unknown,
  linkKeyOf: (nodeId: string) => Uint8Array | undefined,
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
  const linkKey = linkKeyOf(message.from);
  if (!linkKey) {
    throw new MessageRefusedError(
      'P2P.UNKNOWN_SENDER',
      `${message.from} is not a peer node of this consortium`,
    );
  }
  if (Math.abs(now - message.timestamp) > MESSAGE_WINDOW_MS) {
    throw new MessageRefusedError(
      'P2P.STALE',
      `the message is ${Math.round((now - message.timestamp) / 1000)} s off this node's clock`,
    );
  }
  let messageDigest: Buffer;
  try {
    messageDigest = digest(message);
  } catch (error) {
    // What canonical JSON cannot hash (an unsafe integer, a lone surrogate) no peer can have MACed.
    throw new MessageRefusedError(
      'P2P.MALFORMED',
      `the payload cannot be hashed: ${(error as Error).message}`,
    );
  }
  if (!timingSafeEqual(macOf(linkKey, messageDigest), Buffer.from(message.mac, 'hex'))) {
    throw new MessageRefusedError('P2P.BAD_MAC', `the message is not authenticated by ${message.from}`);
  }
  return message;
}
