import { closeSync, openSync, readSync, rmSync, writeSync } from 'node:fs';

/** A prepared report as the load generator sends it. */
export interface Prepared {
  id: string;
  meter: number;
  /** The report's JSON (UTF-8). */
  json: Buffer;
}

const ID_BYTES = 32;

/**
 * Reports signcrypted before a soak's clock starts, kept in a file and read back a batch at a time.
 * A 30-minute run at 400/s prepares 900,000 reports of about 8 KB of JSON each. Held in memory, as
 * strings or as Buffers, they made the load generator an 8.6 GB process whose garbage collector, and
 * the kernel's scanning of its memory, took about half a core from the consortium it measured; in a
 * file they are page cache the kernel manages, and the generator's heap holds a few typed arrays.
 * Reports are written in order, so a batch is one read of consecutive bytes.
 */
export class PreparedReports {
  private readonly fd: number;
  /** Byte offset of report k in the file; offsets[count] is the end of the last one. */
  private readonly offsets: Float64Array;
  private readonly meters: Uint32Array;
  private readonly ids: Buffer;
  private count = 0;

  constructor(
    private readonly file: string,
    readonly capacity: number,
    readonly batchSize: number,
  ) {
    this.fd = openSync(file, 'w+', 0o600);
    this.offsets = new Float64Array(capacity + 1);
    this.meters = new Uint32Array(capacity);
    this.ids = Buffer.alloc(capacity * ID_BYTES);
  }

  get size(): number {
    return this.count;
  }

  get batchCount(): number {
    return Math.ceil(this.count / this.batchSize);
  }

  add(idHex: string, meter: number, json: string): void {
    if (this.count === this.capacity) {
      throw new Error(`prepared reports: already ${this.capacity}, the capacity`);
    }
    if (!/^[0-9a-f]{64}$/.test(idHex)) {
      throw new Error(`prepared reports: a report id is 64 hex digits, not ${idHex}`);
    }
    const bytes = Buffer.from(json);
    const offset = this.offsets[this.count]!;
    let written = 0;
    while (written < bytes.length) {
      written += writeSync(this.fd, bytes, written, bytes.length - written, offset + written);
    }
    this.ids.write(idHex, this.count * ID_BYTES, ID_BYTES, 'hex');
    this.meters[this.count] = meter;
    this.count += 1;
    this.offsets[this.count] = offset + bytes.length;
  }

  /** Batch `index` (0 to batchCount - 1): its reports in the order they were added. */
  batch(index: number): Prepared[] {
    const first = index * this.batchSize;
    const end = Math.min(first + this.batchSize, this.count);
    if (index < 0 || first >= end) {
      throw new RangeError(`prepared reports: no batch ${index} of ${this.batchCount}`);
    }
    const start = this.offsets[first]!;
    const bytes = Buffer.allocUnsafe(this.offsets[end]! - start);
    let read = 0;
    while (read < bytes.length) {
      const n = readSync(this.fd, bytes, read, bytes.length - read, start + read);
      if (n === 0) {
        throw new Error(`prepared reports: ${this.file} ends before batch ${index}`);
      }
      read += n;
    }
    const out: Prepared[] = [];
    for (let k = first; k < end; k += 1) {
      out.push({
        id: this.idAt(k),
        meter: this.meters[k]!,
        json: bytes.subarray(this.offsets[k]! - start, this.offsets[k + 1]! - start),
      });
    }
    return out;
  }

  /** Each report's meter by report id, for checks after the load (a map of every report). */
  meterByReport(): Map<string, number> {
    const out = new Map<string, number>();
    for (let k = 0; k < this.count; k += 1) {
      out.set(this.idAt(k), this.meters[k]!);
    }
    return out;
  }

  /** Closes and deletes the file. */
  remove(): void {
    closeSync(this.fd);
    rmSync(this.file, { force: true });
  }

  private idAt(k: number): string {
    return this.ids.toString('hex', k * ID_BYTES, (k + 1) * ID_BYTES);
  }
}
