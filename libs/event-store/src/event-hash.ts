import { createHash } from 'node:crypto';

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
  const fields = [event.streamId, event.type, payloadJson, metadataJson];
  const lengths = fields.map((f) => Buffer.byteLength(f, 'utf8'));
  // One buffer, one hash update: this runs for every event appended.
  const out = Buffer.allocUnsafe(CONTENT_TAG.length + 4 * 4 + 4 + 4 + 8 + lengths.reduce((a, b) => a + b, 0));
  let at = CONTENT_TAG.copy(out, 0);
  const writeField = (i: number) => {
    at = out.writeUInt32BE(lengths[i]!, at);
    at += out.write(fields[i]!, at, 'utf8');
  };
  writeField(0);
  at = out.writeUInt32BE(event.streamVersion, at);
  writeField(1);
  at = out.writeUInt32BE(event.schemaVersion, at);
  writeField(2);
  writeField(3);
  out.writeBigInt64BE(BigInt(event.occurredAt.getTime()), at);
  return createHash('sha256').update(out).digest();
}

function i64(value: bigint): Buffer {
  const out = Buffer.allocUnsafe(8);
  out.writeBigInt64BE(value);
  return out;
}

export function chainHash(previous: Uint8Array, position: bigint, content: Uint8Array): Buffer {
  return createHash('sha256')
    .update(CHAIN_TAG)
    .update(previous)
    .update(i64(position))
    .update(content)
    .digest();
}
