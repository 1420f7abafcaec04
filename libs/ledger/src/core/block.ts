import { hash } from 'node:crypto';

import {
  BLS_TAGS,
  type BlsPublicKey,
  blsSign,
  blsVerify,
  ByteReader,
  ByteWriter,
  MAX_REPORT_BYTES,
  Report,
  type SecretScalar,
  toHex,
} from '@app/crypto';
import { InvalidInputError } from '@app/kernel';

import { merkleRoot } from './merkle';
import {
  decodeQuorumCertificate,
  encodeQuorumCertificate,
  MAX_QUORUM_CERTIFICATE_BYTES,
  type QuorumCertificate,
} from './quorum';
import { MAX_TX_BYTES, Transaction } from './transaction';

/**
 * Blocks (DESIGN.md section 3). A block orders transactions: meter reports (their own format) and
 * signed transactions of the organisations. Everything hashed or signed is a canonical byte encoding
 * (big-endian integers, length-prefixed fields, the order below):
 *
 *   header = u8 version | u8-prefixed chain id | u64 height | 32 previous hash | u64 slot
 *            | u64 timestamp (ms) | u8-prefixed producer | 32 transactions root
 *            | 32 receiver index root | u32 transaction count
 *            | u8 has-certificate | [quorum certificate of the parent (quorum.ts)]
 *   producer signature = BLS (tag CBSG-BLOCK-V1, chain id) over the header bytes
 *   block hash = SHA-256("CBSG-BLOCK-HASH-V1" | header | signature)
 *
 * Transactions root: the Merkle tree (merkle.ts) over the block's transaction hashes, in block order
 * (a report's hash is its report id). Receiver index root: SHA-256 over the per-receiver index of the
 * block's reports (receiverIndex below), the paper's "classified" aggregation: each receiver finds its
 * own shares without reading the others'. Height 1's previous hash is the genesis hash.
 */
export const BLOCK_VERSION = 1;

/** A block hash, transaction id or report id as the APIs write it: SHA-256 in lower-case hex. */
export function isHashHex(value: string): boolean {
  return /^[0-9a-f]{64}$/.test(value);
}
const BLOCK_HASH_TAG = Buffer.from('CBSG-BLOCK-HASH-V1', 'utf8');
const RECEIVER_INDEX_TAG = Buffer.from('CBSG-RECEIVER-INDEX-V1', 'utf8');

export class BlockFormatError extends InvalidInputError {
  constructor(message: string) {
    super('BLOCK.MALFORMED', message);
  }
}

export interface BlockHeader {
  chainId: string;
  height: bigint;
  previousHash: Uint8Array;
  slot: bigint;
  timestamp: number;
  producer: string;
  transactionsRoot: Uint8Array;
  receiverIndexRoot: Uint8Array;
  transactionCount: number;
  /** The certificate of the parent block, when the producer had gathered one. */
  parentCertificate: QuorumCertificate | null;
}

/** One entry of a block body: a meter report or an organisation's transaction. */
export type BlockEntry =
  { type: 'report'; report: Report } | { type: 'transaction'; transaction: Transaction };

export function entryHash(entry: BlockEntry): Uint8Array {
  return entry.type === 'report' ? entry.report.id : entry.transaction.hash;
}

export function entryBytes(entry: BlockEntry): Uint8Array {
  return entry.type === 'report' ? entry.report.bytes : entry.transaction.encode();
}

const ENTRY_REPORT = 1;
const ENTRY_TRANSACTION = 2;

/** Largest entry of a block body: a report (Report.decode refuses more) or a transaction. */
export const MAX_BLOCK_ENTRY_BYTES = Math.max(MAX_REPORT_BYTES, MAX_TX_BYTES);

/** Body encoding: u32 count, then per entry u8 type | u32-prefixed bytes. */
export function encodeBody(entries: readonly BlockEntry[]): Uint8Array {
  const writer = new ByteWriter(entries.length * 600 + 8).u32(entries.length);
  for (const entry of entries) {
    writer.u8(entry.type === 'report' ? ENTRY_REPORT : ENTRY_TRANSACTION).bytes32(entryBytes(entry));
  }
  return writer.finish();
}

export function decodeBody(bytes: Uint8Array): BlockEntry[] {
  try {
    const reader = new ByteReader(bytes, 'block body');
    const count = reader.u32('entry count');
    const entries: BlockEntry[] = [];
    for (let i = 0; i < count; i += 1) {
      const type = reader.u8('entry type');
      const data = reader.bytes32('entry');
      if (type === ENTRY_REPORT) {
        entries.push({ type: 'report', report: Report.decode(data) });
      } else if (type === ENTRY_TRANSACTION) {
        entries.push({ type: 'transaction', transaction: Transaction.decode(data) });
      } else {
        throw new BlockFormatError(`entry ${i} has unknown type ${type}`);
      }
    }
    reader.end();
    return entries;
  } catch (error) {
    if (error instanceof BlockFormatError) {
      throw error;
    }
    throw new BlockFormatError(`block body: ${(error as Error).message}`);
  }
}

export function transactionsRoot(entries: readonly BlockEntry[]): Uint8Array {
  return merkleRoot(entries.map(entryHash));
}

/** For each receiver (sorted by id), the positions of the block's reports that carry a share for it. */
export function receiverIndex(entries: readonly BlockEntry[]): Map<string, number[]> {
  const index = new Map<string, number[]>();
  entries.forEach((entry, position) => {
    if (entry.type !== 'report') {
      return;
    }
    for (const receiver of entry.report.receivers) {
      const list = index.get(receiver.id) ?? [];
      list.push(position);
      index.set(receiver.id, list);
    }
  });
  return new Map([...index.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** SHA-256 over: tag | u32 receivers | per receiver (u8-prefixed id | u32 n | n u32 positions). */
export function receiverIndexRoot(entries: readonly BlockEntry[]): Uint8Array {
  const index = receiverIndex(entries);
  const writer = new ByteWriter(256).fixed(RECEIVER_INDEX_TAG).u32(index.size);
  for (const [receiver, positions] of index) {
    writer.bytes8(Buffer.from(receiver, 'utf8')).u32(positions.length);
    for (const p of positions) {
      writer.u32(p);
    }
  }
  return hash('sha256', writer.finish(), 'buffer');
}

/** Largest header: chain id and producer of 255 bytes each, and its parent's certificate. */
export const MAX_HEADER_BYTES =
  1 + (1 + 255) + 8 + 32 + 8 + 8 + (1 + 255) + 32 + 32 + 4 + 1 + MAX_QUORUM_CERTIFICATE_BYTES;

export function encodeHeader(header: BlockHeader): Uint8Array {
  const writer = new ByteWriter(512)
    .u8(BLOCK_VERSION)
    .bytes8(Buffer.from(header.chainId, 'utf8'))
    .u64(header.height)
    .fixed(fixed32(header.previousHash, 'previous hash'))
    .u64(header.slot)
    .u64(BigInt(header.timestamp))
    .bytes8(Buffer.from(header.producer, 'utf8'))
    .fixed(fixed32(header.transactionsRoot, 'transactions root'))
    .fixed(fixed32(header.receiverIndexRoot, 'receiver index root'))
    .u32(header.transactionCount);
  if (header.parentCertificate) {
    writer.u8(1).fixed(encodeQuorumCertificate(header.parentCertificate));
  } else {
    writer.u8(0);
  }
  return writer.finish();
}

export function decodeHeader(bytes: Uint8Array): BlockHeader {
  try {
    const reader = new ByteReader(bytes, 'block header');
    const version = reader.u8('version');
    if (version !== BLOCK_VERSION) {
      throw new BlockFormatError(`block version ${version} is not supported`);
    }
    const header: BlockHeader = {
      chainId: Buffer.from(reader.bytes8('chain id')).toString('utf8'),
      height: reader.u64('height'),
      previousHash: reader.fixed(32, 'previous hash'),
      slot: reader.u64('slot'),
      timestamp: Number(reader.u64('timestamp')),
      producer: Buffer.from(reader.bytes8('producer')).toString('utf8'),
      transactionsRoot: reader.fixed(32, 'transactions root'),
      receiverIndexRoot: reader.fixed(32, 'receiver index root'),
      transactionCount: reader.u32('transaction count'),
      parentCertificate: null,
    };
    const hasCertificate = reader.u8('has certificate');
    if (hasCertificate === 1) {
      header.parentCertificate = decodeQuorumCertificate(reader.fixed(reader.remaining, 'certificate'));
    } else if (hasCertificate !== 0) {
      throw new BlockFormatError('has-certificate must be 0 or 1');
    }
    reader.end();
    return header;
  } catch (error) {
    if (error instanceof BlockFormatError) {
      throw error;
    }
    throw new BlockFormatError(`block header: ${(error as Error).message}`);
  }
}

/** A signed block: header, producer signature, body. Immutable; `hash` names it. */
export class Block {
  readonly headerBytes: Uint8Array;
  readonly hash: Uint8Array;

  private constructor(
    readonly header: BlockHeader,
    readonly signature: Uint8Array,
    readonly entries: readonly BlockEntry[],
  ) {
    this.headerBytes = encodeHeader(header);
    this.hash = blockHash(this.headerBytes, signature);
  }

  get hashHex(): string {
    return toHex(this.hash);
  }

  get height(): bigint {
    return this.header.height;
  }

  /** The producer builds and signs a block over `entries` (in the order given). */
  static produce(
    fields: Omit<BlockHeader, 'transactionsRoot' | 'receiverIndexRoot' | 'transactionCount'>,
    entries: readonly BlockEntry[],
    key: SecretScalar,
  ): Block {
    const header: BlockHeader = {
      ...fields,
      transactionsRoot: transactionsRoot(entries),
      receiverIndexRoot: receiverIndexRoot(entries),
      transactionCount: entries.length,
    };
    const signature = blsSign(key, { tag: BLS_TAGS.block, chainId: header.chainId }, encodeHeader(header));
    return new Block(header, signature, entries);
  }

  /** Rebuilds a block from its parts (storage, the network). Checks only the format; see verifySignature and the chain's rules. */
  static fromParts(
    headerBytes: Uint8Array,
    signature: Uint8Array,
    body: Uint8Array | readonly BlockEntry[],
  ): Block {
    if (signature.length !== 96) {
      throw new BlockFormatError('a producer signature is 96 bytes');
    }
    const header = decodeHeader(headerBytes);
    const entries = body instanceof Uint8Array ? decodeBody(body) : body;
    return new Block(header, signature, entries);
  }

  verifySignature(producerKey: BlsPublicKey): boolean {
    return verifyHeaderSignature(this.headerBytes, this.header.chainId, this.signature, producerKey);
  }

  /** Recomputes the roots and the count from the body: false if the header does not describe it. */
  bodyMatchesHeader(): boolean {
    return (
      this.entries.length === this.header.transactionCount &&
      Buffer.from(transactionsRoot(this.entries)).equals(Buffer.from(this.header.transactionsRoot)) &&
      Buffer.from(receiverIndexRoot(this.entries)).equals(Buffer.from(this.header.receiverIndexRoot))
    );
  }

  encodeBody(): Uint8Array {
    return encodeBody(this.entries);
  }
}

/** The producer's signature covers the header bytes (which commit to the body through its roots). */
export function verifyHeaderSignature(
  headerBytes: Uint8Array,
  chainId: string,
  signature: Uint8Array,
  producerKey: BlsPublicKey,
): boolean {
  return blsVerify(producerKey, { tag: BLS_TAGS.block, chainId }, headerBytes, signature);
}

export function blockHash(headerBytes: Uint8Array, signature: Uint8Array): Uint8Array {
  return hash('sha256', Buffer.concat([BLOCK_HASH_TAG, headerBytes, signature]), 'buffer');
}

function fixed32(bytes: Uint8Array, what: string): Uint8Array {
  if (bytes.length !== 32) {
    throw new BlockFormatError(`${what} must be 32 bytes`);
  }
  return bytes;
}
