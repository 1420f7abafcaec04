import { hash } from 'node:crypto';

import {
  BlsPublicKey,
  blsSign,
  blsSigningBytes,
  blsVerify,
  ByteReader,
  ByteWriter,
  fromHex,
  type SecretScalar,
  toHex,
} from '@app/crypto';
import { canonicalJson, InvalidInputError } from '@app/kernel';

/**
 * A meter's owner signs its transactions (device contracts, paper III.F) as `owner:<meterId>`, with
 * the key registered in the meter's `owner.publicKey`; every other sender is an organisation.
 */
export const OWNER_SENDER_PREFIX = 'owner:';

/**
 * Every change to the consortium's state other than a meter report is a transaction signed by the
 * organisation that sends it (DESIGN.md section 3). Reports carry their meter's certificateless
 * signature instead and travel in their own format (@app/crypto Report).
 *
 * Signed bytes (BLS, tag CBSG-TX-V1 and the chain id, see blsSigningBytes):
 *
 *   u8 version | u8-prefixed kind | u8-prefixed sender | u64 timestamp (epoch ms)
 *   | u32-prefixed canonical JSON of the body (RFC 8785 rules, @app/kernel canonicalJson)
 *
 * Transaction hash = SHA-256("CBSG-TX-HASH-V1" | signed bytes | signature). The hash covers the chain
 * id through the signature, so a transaction cannot be replayed on another chain, and it names the
 * transaction everywhere (mempool, blocks, Merkle leaves, proofs).
 */
export const TX_VERSION = 1;
export const TX_SIGNATURE_TAG = 'CBSG-TX-V1';
const TX_HASH_TAG = Buffer.from('CBSG-TX-HASH-V1', 'utf8');

/** Largest canonical body accepted (contracts are the biggest bodies). */
export const MAX_TX_BODY_BYTES = 64 * 1024;

/**
 * Largest encoding of a transaction (encode): the version, timestamp and body length, the largest
 * body, and four u8-prefixed fields (chain id, kind, sender, signature) of at most 255 bytes each.
 */
export const MAX_TX_BYTES = 1 + 8 + 4 + MAX_TX_BODY_BYTES + 4 * (1 + 255);

export const TX_KINDS = [
  'meter.register',
  'meter.revoke',
  'receiver.register',
  'receiver.revoke',
  'delegate.register',
  'delegate.revoke',
  'vote',
  'cc.partial-key',
  'receiver.publication',
  'contract.deploy',
  'contract.result',
] as const;

export type TxKind = (typeof TX_KINDS)[number];

export function isTxKind(value: unknown): value is TxKind {
  return typeof value === 'string' && (TX_KINDS as readonly string[]).includes(value);
}

export interface TransactionFields<B extends object = Record<string, unknown>> {
  chainId: string;
  kind: TxKind;
  /** The organisation that signs. */
  sender: string;
  /** When the sender made it (epoch ms); nodes refuse it outside their acceptance window. */
  timestamp: number;
  body: B;
}

export interface TransactionJson {
  version: number;
  chainId: string;
  kind: string;
  sender: string;
  timestamp: number;
  body: Record<string, unknown>;
  signature: string;
}

const IDENTIFIER = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

export class TransactionFormatError extends InvalidInputError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('TX.MALFORMED', message, details);
  }
}

/** An immutable signed transaction; `hash` names it. */
export class Transaction<B extends object = Record<string, unknown>> {
  readonly version = TX_VERSION;
  readonly signingMessage: Uint8Array;
  readonly hash: Uint8Array;

  private constructor(
    readonly fields: TransactionFields<B>,
    readonly bodyJson: string,
    readonly signature: Uint8Array,
  ) {
    this.signingMessage = signingMessage(fields.kind, fields.sender, fields.timestamp, bodyJson);
    this.hash = hash(
      'sha256',
      Buffer.concat([TX_HASH_TAG, blsSigningBytes(domainOf(fields.chainId), this.signingMessage), signature]),
      'buffer',
    );
  }

  get kind(): TxKind {
    return this.fields.kind;
  }

  get sender(): string {
    return this.fields.sender;
  }

  get timestamp(): number {
    return this.fields.timestamp;
  }

  get body(): B {
    return this.fields.body;
  }

  get hashHex(): string {
    return toHex(this.hash);
  }

  /** Signs `fields` with the sender organisation's key. */
  static sign<B extends object>(fields: TransactionFields<B>, key: SecretScalar): Transaction<B> {
    const bodyJson = checkFields(fields);
    const signature = blsSign(
      key,
      domainOf(fields.chainId),
      signingMessage(fields.kind, fields.sender, fields.timestamp, bodyJson),
    );
    return new Transaction(normalise(fields, bodyJson), bodyJson, signature);
  }

  /** True if the signature is the sender's, for `publicKey` (a registered, already checked key). */
  verifySignature(publicKey: BlsPublicKey): boolean {
    return blsVerify(publicKey, domainOf(this.fields.chainId), this.signingMessage, this.signature);
  }

  /** The canonical encoding, as stored and gossiped: u8-prefixed chain id, the signed message, the signature. */
  encode(): Uint8Array {
    return new ByteWriter(this.signingMessage.length + 160)
      .bytes8(Buffer.from(this.fields.chainId, 'utf8'))
      .fixed(this.signingMessage)
      .bytes8(this.signature)
      .finish();
  }

  static decode(bytes: Uint8Array): Transaction {
    try {
      const reader = new ByteReader(bytes, 'transaction');
      const chainId = Buffer.from(reader.bytes8('chain id')).toString('utf8');
      const version = reader.u8('version');
      if (version !== TX_VERSION) {
        throw new TransactionFormatError(
          `transaction version ${version} is not supported (expected ${TX_VERSION})`,
        );
      }
      const kind = Buffer.from(reader.bytes8('kind')).toString('utf8');
      const sender = Buffer.from(reader.bytes8('sender')).toString('utf8');
      const timestamp = Number(reader.u64('timestamp'));
      const bodyText = Buffer.from(reader.bytes32('body')).toString('utf8');
      const signature = reader.bytes8('signature');
      reader.end();
      const body = JSON.parse(bodyText) as unknown;
      return Transaction.fromParts({ chainId, kind, sender, timestamp, body }, signature, bodyText);
    } catch (error) {
      if (error instanceof TransactionFormatError) {
        throw error;
      }
      throw new TransactionFormatError(`transaction encoding: ${(error as Error).message}`);
    }
  }

  toJSON(): TransactionJson {
    return {
      version: TX_VERSION,
      chainId: this.fields.chainId,
      kind: this.fields.kind,
      sender: this.fields.sender,
      timestamp: this.fields.timestamp,
      body: this.fields.body as Record<string, unknown>,
      signature: toHex(this.signature),
    };
  }

  /** Strict parse of the JSON form (the HTTP API's): every field checked, nothing extra allowed. */
  static fromJSON(value: unknown): Transaction {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new TransactionFormatError('a transaction must be a JSON object');
    }
    const record = value as Record<string, unknown>;
    const allowed = ['version', 'chainId', 'kind', 'sender', 'timestamp', 'body', 'signature'];
    const unknown = Object.keys(record).filter((k) => !allowed.includes(k));
    if (unknown.length > 0) {
      throw new TransactionFormatError(`unknown field(s): ${unknown.join(', ')}`, { fields: unknown });
    }
    if (record.version !== TX_VERSION) {
      throw new TransactionFormatError(`version must be ${TX_VERSION}`, { field: 'version' });
    }
    if (typeof record.signature !== 'string') {
      throw new TransactionFormatError('signature must be a hex string', { field: 'signature' });
    }
    let signature: Uint8Array;
    try {
      signature = fromHex(record.signature, 'signature', 96);
    } catch (error) {
      throw new TransactionFormatError(`signature: ${(error as Error).message}`, { field: 'signature' });
    }
    return Transaction.fromParts(record, signature);
  }

  private static fromParts(
    record: Record<string, unknown>,
    signature: Uint8Array,
    bodyText?: string,
  ): Transaction {
    const fields = {
      chainId: record.chainId,
      kind: record.kind,
      sender: record.sender,
      timestamp: record.timestamp,
      body: record.body,
    } as TransactionFields;
    const bodyJson = checkFields(fields);
    if (bodyText !== undefined && bodyText !== bodyJson) {
      throw new TransactionFormatError('the body is not in canonical JSON form');
    }
    if (signature.length !== 96) {
      throw new TransactionFormatError('signature must be 96 bytes', { field: 'signature' });
    }
    return new Transaction(normalise(fields, bodyJson), bodyJson, signature);
  }
}

function domainOf(chainId: string) {
  return { tag: TX_SIGNATURE_TAG, chainId };
}

function signingMessage(kind: string, sender: string, timestamp: number, bodyJson: string): Uint8Array {
  return new ByteWriter(bodyJson.length + 64)
    .u8(TX_VERSION)
    .bytes8(Buffer.from(kind, 'utf8'))
    .bytes8(Buffer.from(sender, 'utf8'))
    .u64(BigInt(timestamp))
    .bytes32(Buffer.from(bodyJson, 'utf8'))
    .finish();
}

/** Validates the envelope's fields and returns the canonical JSON of the body. */
function checkFields(fields: TransactionFields<object>): string {
  if (typeof fields.chainId !== 'string' || !IDENTIFIER.test(fields.chainId)) {
    throw new TransactionFormatError('chainId must be an identifier (letters, digits, . _ : -)', {
      field: 'chainId',
    });
  }
  if (!isTxKind(fields.kind)) {
    throw new TransactionFormatError(`kind must be one of ${TX_KINDS.join(', ')}`, { field: 'kind' });
  }
  if (typeof fields.sender !== 'string' || !IDENTIFIER.test(fields.sender)) {
    throw new TransactionFormatError('sender must be an organisation identifier', { field: 'sender' });
  }
  if (!Number.isSafeInteger(fields.timestamp) || fields.timestamp < 0) {
    throw new TransactionFormatError('timestamp must be epoch milliseconds', { field: 'timestamp' });
  }
  if (typeof fields.body !== 'object' || fields.body === null || Array.isArray(fields.body)) {
    throw new TransactionFormatError('body must be a JSON object', { field: 'body' });
  }
  let bodyJson: string;
  try {
    bodyJson = canonicalJson(fields.body);
  } catch (error) {
    throw new TransactionFormatError(`body: ${(error as Error).message}`, { field: 'body' });
  }
  if (Buffer.byteLength(bodyJson) > MAX_TX_BODY_BYTES) {
    throw new TransactionFormatError(`body is larger than ${MAX_TX_BODY_BYTES} bytes`, { field: 'body' });
  }
  return bodyJson;
}

function normalise<B extends object>(fields: TransactionFields<B>, bodyJson: string): TransactionFields<B> {
  return Object.freeze({ ...fields, body: JSON.parse(bodyJson) as B });
}
