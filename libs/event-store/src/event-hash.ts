import { createHash, type Hash } from 'node:crypto';

import { canonicalJson, type EventMetadata } from '@app/kernel';

/**
 * The event journal's hashes. Both are SHA-256; every variable-length field is prefixed with its byte
 * length (u32, big-endian), integers are big-endian, JSON is canonical (RFC 8785 rules).
 *
 *   content = SHA-256("cbsg/event/v1" 0x00 | lp(stream_id) | u32 stream_version | lp(type)
 *                     | u32 schema_version | lp(canonical payload) | lp(canonical metadata)
 *                     | i64 occurred_at in epoch milliseconds)
 *   chain   = SHA-256("cbsg/event-chain/v1" | previous chain | i64 position | content)
 *
 * The chain of the event before position 1 is 32 zero bytes. The chain hash is computed in SQL by
 * cbsg_append_events (it needs the previous hash under the append lock); `chainHash` here is the
 * same function, used by verify and tests.
 */
export const GENESIS_CHAIN_HASH: Uint8Array = new Uint8Array(32);

const CONTENT_TAG = Buffer.from('cbsg/event/v1\u0000', 'utf8');
const CHAIN_TAG = Buffer.from('cbsg/event-chain/v1', 'utf8');

export interface HashableEvent {
  streamId: string;
  streamVersion: number;
  type: string;
  schemaVersion: number;
  payload: object;
  metadata: EventMetadata;
  occurredAt: Date;
}

function updateLengthPrefixed(hash: Hash, text: string): void {
  const bytes = Buffer.from(text, 'utf8');
  hash.update(u32(bytes.length)).update(bytes);
}

function u32(value: number): Buffer {
  const out = Buffer.allocUnsafe(4);
  out.writeUInt32BE(value);
  return out;
}

function i64(value: bigint | number): Buffer {
  const out = Buffer.allocUnsafe(8);
  out.writeBigInt64BE(BigInt(value));
  return out;
}

/** The canonical payload text and the content hash, computed once per event at append time. */
export function contentHash(event: HashableEvent, payloadJson = canonicalJson(event.payload)): Buffer {
  const hash = createHash('sha256');
  hash.update(CONTENT_TAG);
  updateLengthPrefixed(hash, event.streamId);
  hash.update(u32(event.streamVersion));
  updateLengthPrefixed(hash, event.type);
  hash.update(u32(event.schemaVersion));
  updateLengthPrefixed(hash, payloadJson);
  updateLengthPrefixed(hash, canonicalJson(event.metadata));
  hash.update(i64(event.occurredAt.getTime()));
  return hash.digest();
}

export function chainHash(previous: Uint8Array, position: bigint, content: Uint8Array): Buffer {
  return createHash('sha256')
    .update(CHAIN_TAG)
    .update(previous)
    .update(i64(position))
    .update(content)
    .digest();
}
