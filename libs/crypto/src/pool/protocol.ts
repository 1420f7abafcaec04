import { CryptoError, reviveCryptoError } from '../errors';

/*
 * Messages between CryptoPool and its workers. Work travels as bytes: many byte strings are packed
 * into one ArrayBuffer with an offset table, and the buffer is transferred (moved, not copied).
 */

export interface Packed {
  readonly buffer: ArrayBuffer;
  /** n + 1 offsets: item i is buffer[offsets[i], offsets[i + 1]). */
  readonly offsets: Uint32Array;
}

export function pack(items: readonly Uint8Array[]): Packed {
  const offsets = new Uint32Array(items.length + 1);
  let total = 0;
  for (const [i, it] of items.entries()) {
    offsets[i] = total;
    total += it.length;
  }
  offsets[items.length] = total;
  const bytes = new Uint8Array(total);
  for (const [i, it] of items.entries()) {
    bytes.set(it, offsets[i]);
  }
  return { buffer: bytes.buffer, offsets };
}

export function unpack(p: Packed): Uint8Array[] {
  const out: Uint8Array[] = [];
  const all = new Uint8Array(p.buffer);
  for (let i = 0; i + 1 < p.offsets.length; i++) {
    out.push(all.subarray(p.offsets[i], p.offsets[i + 1]));
  }
  return out;
}

export interface WorkerInit {
  /** Ypub1 || Ypub2, from our own storage (checked when first accepted). */
  readonly params: Uint8Array;
  readonly meterCacheSize: number;
  readonly epochKeyCacheSize: number;
}

export type ToWorker =
  | {
      readonly type: 'add-receiver';
      readonly taskId: number;
      readonly handle: number;
      readonly id: string;
      readonly secret: Uint8Array;
    }
  | {
      readonly type: 'verify';
      readonly taskId: number;
      readonly reports: Packed;
      /** Distinct meter records (RegisteredMeter.toBytes()) and, per report, which one. */
      readonly meters: Packed;
      readonly meterOf: Uint32Array;
    }
  | { readonly type: 'open'; readonly taskId: number; readonly handle: number; readonly reports: Packed };

export interface SerializedError {
  readonly name: string;
  readonly code: string;
  readonly message: string;
  readonly details: Readonly<Record<string, unknown>>;
}

export type FromWorker =
  | { readonly type: 'ready' }
  | { readonly type: 'result'; readonly taskId: number; readonly value: unknown }
  | { readonly type: 'failure'; readonly taskId: number; readonly error: SerializedError };

export function serializeError(e: unknown): SerializedError {
  if (e instanceof CryptoError) {
    return { name: e.name, code: e.code, message: e.message, details: { ...e.details } };
  }
  const message = e instanceof Error ? e.message : String(e);
  return { name: 'Error', code: 'CRYPTO.WORKER_TASK_FAILED', message, details: {} };
}

export function deserializeError(s: SerializedError): CryptoError {
  return reviveCryptoError(s.code, s.message, s.details);
}
