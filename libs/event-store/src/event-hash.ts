import { hash } from 'node:crypto';

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

/** The content hash of an event; the canonical JSON texts may be passed when the caller has them. */
export function contentHash(
  event: HashableEvent,
  payloadJson = canonicalJson(event.payload),
  metadataJson = canonicalJson(event.metadata),
): Buffer {
  // One buffer and one one-shot hash: this runs for every event appended.
  const streamLength = Buffer.byteLength(event.streamId);
  const typeLength = Buffer.byteLength(event.type);
  const payloadLength = Buffer.byteLength(payloadJson);
  const metadataLength = Buffer.byteLength(metadataJson);
  const out = Buffer.allocUnsafe(
    CONTENT_TAG.length + 6 * 4 + 8 + streamLength + typeLength + payloadLength + metadataLength,
  );
  let at = CONTENT_TAG.copy(out, 0);
  at = out.writeUInt32BE(streamLength, at);
  at += out.write(event.streamId, at);
  at = out.writeUInt32BE(event.streamVersion, at);
  at = out.writeUInt32BE(typeLength, at);
  at += out.write(event.type, at);
  at = out.writeUInt32BE(event.schemaVersion, at);
  at = out.writeUInt32BE(payloadLength, at);
  at += out.write(payloadJson, at);
  at = out.writeUInt32BE(metadataLength, at);
  at += out.write(metadataJson, at);
  out.writeBigInt64BE(BigInt(event.occurredAt.getTime()), at);
  return hash('sha256', out, 'buffer');
}

export function chainHash(previous: Uint8Array, position: bigint, content: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(CHAIN_TAG.length + 32 + 8 + 32);
  let at = CHAIN_TAG.copy(out, 0);
  out.set(previous, at);
  at = out.writeBigInt64BE(position, at + 32);
  out.set(content, at);
  return hash('sha256', out, 'buffer');
}
