import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';

import { PoolClosedError, WorkerCrashedError } from '../errors';
import { RegisteredMeter } from '../keys';
import { LruCache } from '../lru';
import { ready } from '../mcl';
import { Report } from '../report';
import { SecretScalar } from '../secret';
import { BatchVerdict, ReportVerdict } from '../signature';
import { SystemParams } from '../system';
import { DecryptedShare, ShareResult } from '../unsigncrypt';
import { deserializeError, FromWorker, pack, SerializedError, ToWorker, WorkerInit } from './protocol';

export interface VerifyOptions {
  /**
   * Ahead of queued work that is not urgent: a node's check of a block's reports (on which its vote
   * and the chain's finality wait) overtakes the intake batches queued before it. An Urgency may be
   * raised after the call, while the work is still queued.
   */
  readonly urgent?: boolean | Urgency;
}

/**
 * Whether a verification is urgent, decided possibly after it was queued: a block may come that
 * needs reports whose gossip check is still waiting behind intake batches, and the block's vote
 * should not wait for those batches.
 */
export class Urgency {
  private raised: boolean;
  private listeners: Array<() => void> = [];

  constructor(urgent = false) {
    this.raised = urgent;
  }

  get urgent(): boolean {
    return this.raised;
  }

  /** Move the work still queued under this urgency ahead of ordinary work; work under way goes on. */
  raise(): void {
    if (this.raised) {
      return;
    }
    this.raised = true;
    const listeners = this.listeners;
    this.listeners = [];
    for (const listener of listeners) {
      listener();
    }
  }

  /** Called once when raised (at once if it already is). */
  onRaise(listener: () => void): void {
    if (this.raised) {
      listener();
    } else {
      this.listeners.push(listener);
    }
  }
}

export interface CryptoPoolOptions {
  /** Worker threads; default: the number of cores (os.availableParallelism()). */
  readonly size?: number;
  /** Decoded meter keys kept per worker. */
  readonly meterCacheSize?: number;
  /** Share keys per (meter, D) kept per worker and receiver. */
  readonly epochKeyCacheSize?: number;
  /**
   * Another worker entry file. Only for tests (a worker that can be made to crash); production uses
   * the default, crypto.worker.{js,ts} next to this file.
   */
  readonly workerScript?: string;
}

/** A receiver key loaded into every worker of the pool. */
export interface PoolReceiver {
  readonly id: string;
  readonly handle: number;
}

/** One report's outcome in openShares: the share, or the typed error (as ShareDecryptor.openAll). */
export type ShareOutcome = ShareResult;

type VerifyItem = { readonly report: Uint8Array | Report; readonly meter: RegisteredMeter };

interface Task {
  readonly build: (taskId: number) => { msg: ToWorker; transfer: ArrayBuffer[] };
  /** Runs before every queued task that is not urgent (in order among urgent ones). */
  urgent: boolean;
  /** A verification's reports: verifications queued together run as one batch check (takeShared). */
  readonly verify?: readonly VerifyItem[];
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
}

interface Slot {
  readonly index: number;
  worker: Worker | undefined;
  ready: boolean;
  busy: Task | undefined;
  /** Tasks that must run on this worker (receiver keys, share batches of meters routed here). */
  readonly queue: Task[];
  /** Consecutive starts that died before reporting ready. */
  failedStarts: number;
  dead: boolean;
  lastError: string | undefined;
}

const MAX_FAILED_STARTS = 3;
const MIN_REPORTS_PER_TASK = 64;
/**
 * Queued verifications are merged into one batch check up to this many reports. A batch check costs
 * about two pairings whatever its size; small requests (single reports under load) otherwise pay it
 * for a handful of reports each. Beyond this size the saving is a few percent, and a larger task
 * would keep a worker busy longer while the others may run dry.
 */
const MERGED_VERIFY_REPORTS = 256;

/**
 * The worker entry. Compiled output (`nest build`) has crypto.worker.js next to this file and runs it
 * directly. From TypeScript sources (jest through @swc/jest, `node -r @swc-node/register`) there is
 * only crypto.worker.ts, so the worker starts with a two-line bootstrap that registers
 * @swc-node/register in the worker before requiring the .ts file. The bootstrap is passed as code
 * (eval), so the build need not copy any non-TypeScript asset; @swc-node/register is needed only in
 * the source case, where it is installed as a development dependency.
 */
function workerSource(custom: string | undefined): { code: string; eval: boolean } {
  const target =
    custom ??
    (existsSync(join(__dirname, 'crypto.worker.js'))
      ? join(__dirname, 'crypto.worker.js')
      : join(__dirname, 'crypto.worker.ts'));
  if (!target.endsWith('.ts')) {
    return { code: target, eval: false };
  }
  const register = require.resolve('@swc-node/register');
  return { code: `require(${JSON.stringify(register)});\nrequire(${JSON.stringify(target)});\n`, eval: true };
}

/**
 * A pool of worker threads for the heavy, parallel work: batch verification of reports (a node's
 * intake) and decryption of shares (a receiver). Work and results travel as bytes. Each worker
 * initialises mcl once, keeps an LRU of decoded meter keys and, per receiver key, an epoch-key cache.
 * Shares of one meter always go to the same worker, so that a key epoch costs one pairing per pool,
 * not one per worker. A worker that dies rejects the task it was running with CRYPTO.WORKER_CRASHED
 * and is replaced (with the receiver keys loaded again); `close()` lets queued work finish first.
 */
export class CryptoPool {
  private readonly slots: Slot[] = [];
  private readonly shared: Task[] = [];
  private readonly receivers: { handle: number; id: string; secret: SecretScalar }[] = [];
  private readonly meterRecords = new WeakMap<RegisteredMeter, Uint8Array>();
  private readonly affinity = new LruCache<string, number>(100_000);
  private readonly init: WorkerInit;
  private readonly source: { code: string; eval: boolean };
  private nextTaskId = 1;
  private nextHandle = 1;
  private closing = false;
  private verifyBatches = 0;
  private verifiedReports = 0;
  private idleWaiters: (() => void)[] = [];

  private constructor(params: SystemParams, options: CryptoPoolOptions, size: number) {
    this.init = {
      params: params.toBytes(),
      meterCacheSize: options.meterCacheSize ?? 100_000,
      epochKeyCacheSize: options.epochKeyCacheSize ?? 4096,
    };
    this.source = workerSource(options.workerScript);
    for (let i = 0; i < size; i++) {
      this.slots.push({
        index: i,
        worker: undefined,
        ready: false,
        busy: undefined,
        queue: [],
        failedStarts: 0,
        dead: false,
        lastError: undefined,
      });
    }
  }

  /** Start the workers and wait until every one has initialised mcl. */
  static async start(params: SystemParams, options: CryptoPoolOptions = {}): Promise<CryptoPool> {
    ready();
    const size = options.size ?? availableParallelism();
    if (!Number.isInteger(size) || size < 1) {
      throw new RangeError('pool size must be a positive integer');
    }
    const pool = new CryptoPool(params, options, size);
    await Promise.all(pool.slots.map((s) => pool.spawn(s)));
    return pool;
  }

  get size(): number {
    return this.slots.length;
  }

  /** Batch checks sent to the workers and the reports in them, since the pool started. */
  get verifyStats(): { batches: number; reports: number } {
    return { batches: this.verifyBatches, reports: this.verifiedReports };
  }

  /**
   * Verify reports in the workers: each worker decodes its reports, checks W and T in full and D on
   * the curve, and runs the weighted batch check (with bisection). Meter keys must be registered
   * ones (checked at registration), since the workers decode them without the subgroup check.
   */
  async verifyReports(items: readonly VerifyItem[], options: VerifyOptions = {}): Promise<BatchVerdict> {
    this.assertOpen();
    const n = items.length;
    // One task per worker: a batch check's fixed costs (the multi-pairing, the multi-scalar
    // multiplications, which get cheaper per point as they grow) are paid once per worker.
    const parts = Math.max(1, Math.min(this.slots.length, Math.floor(n / MIN_REPORTS_PER_TASK)));
    const per = Math.ceil(n / parts);
    const urgency = options.urgent instanceof Urgency ? options.urgent : new Urgency(options.urgent ?? false);
    const runs: Promise<{ start: number; verdicts: ReportVerdict[] }>[] = [];
    for (let start = 0; start < n; start += per) {
      const slice = items.slice(start, start + per);
      runs.push(this.verifyPart(slice, urgency).then((verdicts) => ({ start, verdicts })));
    }
    const verdicts: ReportVerdict[] = new Array<ReportVerdict>(n);
    for (const { start, verdicts: part } of await Promise.all(runs)) {
      for (const [k, v] of part.entries()) {
        verdicts[start + k] = v;
      }
    }
    const invalid: number[] = [];
    for (const [i, v] of verdicts.entries()) {
      if (!v.valid) {
        invalid.push(i);
      }
    }
    return { allValid: invalid.length === 0, invalid, verdicts };
  }

  private verifyPart(slice: readonly VerifyItem[], urgency: Urgency): Promise<ReportVerdict[]> {
    return this.submit<ReportVerdict[]>(
      undefined,
      (taskId) => this.verifyMessage(taskId, slice),
      urgency,
      slice,
    );
  }

  private verifyMessage(taskId: number, items: readonly VerifyItem[]): ReturnType<Task['build']> {
    const meterIndex = new Map<RegisteredMeter, number>();
    const records: Uint8Array[] = [];
    const meterOf = new Uint32Array(items.length);
    for (const [i, { meter }] of items.entries()) {
      let k = meterIndex.get(meter);
      if (k === undefined) {
        k = records.length;
        meterIndex.set(meter, k);
        records.push(this.recordOf(meter));
      }
      meterOf[i] = k;
    }
    const reports = pack(items.map(({ report }) => (report instanceof Report ? report.bytes : report)));
    const meters = pack(records);
    return {
      msg: { type: 'verify', taskId, reports, meters, meterOf },
      transfer: [reports.buffer, meters.buffer, meterOf.buffer],
    };
  }

  private recordOf(meter: RegisteredMeter): Uint8Array {
    let r = this.meterRecords.get(meter);
    if (r === undefined) {
      r = meter.toBytes();
      this.meterRecords.set(meter, r);
    }
    return r;
  }

  /**
   * Load a receiver's private key into every worker (and into replacements of crashed workers).
   * The key's bytes cross to the worker threads of this process only.
   */
  async loadReceiverKey(id: string, secret: SecretScalar): Promise<PoolReceiver> {
    this.assertOpen();
    const handle = this.nextHandle++;
    this.receivers.push({ handle, id, secret });
    await Promise.all(this.slots.map((s) => this.submit(s.index, this.addReceiverTask(handle, id, secret))));
    return { id, handle };
  }

  private addReceiverTask(handle: number, id: string, secret: SecretScalar): Task['build'] {
    return (taskId) => ({
      msg: { type: 'add-receiver', taskId, handle, id, secret: secret.exposeBytes() },
      transfer: [],
    });
  }

  /**
   * Decrypt this receiver's share of each report. One outcome per report, in order: the share, or
   * the typed error that says what is wrong with it (wrong key, swapped share, changed header, ...).
   */
  async openShares(
    receiver: PoolReceiver,
    reports: readonly (Uint8Array | Report)[],
  ): Promise<ShareOutcome[]> {
    this.assertOpen();
    const bySlot: number[][] = this.slots.map(() => []);
    for (const [i, r] of reports.entries()) {
      const bytes = r instanceof Report ? r.bytes : r;
      (bySlot[this.slotForMeter(meterIdOf(bytes), bySlot)] as number[]).push(i);
    }
    const outcomes: ShareOutcome[] = new Array<ShareOutcome>(reports.length);
    await Promise.all(
      bySlot.map(async (positions, slot) => {
        if (positions.length === 0) {
          return;
        }
        const packed = pack(
          positions.map((i) => {
            const r = reports[i] as Uint8Array | Report;
            return r instanceof Report ? r.bytes : r;
          }),
        );
        const results = await this.submit<
          ({ ok: true; share: DecryptedShare } | { ok: false; error: SerializedError })[]
        >(slot, (taskId) => ({
          msg: { type: 'open', taskId, handle: receiver.handle, reports: packed },
          transfer: [packed.buffer],
        }));
        for (const [k, res] of results.entries()) {
          outcomes[positions[k] as number] = res.ok ? res : { ok: false, error: deserializeError(res.error) };
        }
      }),
    );
    return outcomes;
  }

  /** A meter keeps its worker; a new meter goes to the worker with the least work in this call. */
  private slotForMeter(meterId: string, load: readonly number[][]): number {
    const known = this.affinity.get(meterId);
    if (known !== undefined && known < this.slots.length) {
      return known;
    }
    let best = 0;
    for (let i = 1; i < load.length; i++) {
      if ((load[i] as number[]).length < (load[best] as number[]).length) {
        best = i;
      }
    }
    this.affinity.set(meterId, best);
    return best;
  }

  /** Stop accepting work, let queued and running tasks finish, then stop the workers. */
  async close(): Promise<void> {
    if (this.closing) {
      return;
    }
    this.closing = true;
    await new Promise<void>((resolve) => {
      if (this.isIdle()) {
        resolve();
      } else {
        this.idleWaiters.push(resolve);
      }
    });
    await Promise.all(
      this.slots.map(async (s) => {
        const w = s.worker;
        s.worker = undefined;
        s.ready = false;
        if (w !== undefined) {
          await w.terminate();
        }
      }),
    );
  }

  private assertOpen(): void {
    if (this.closing) {
      throw new PoolClosedError();
    }
  }

  private isIdle(): boolean {
    return (
      this.shared.length === 0 &&
      this.slots.every((s) => s.busy === undefined && (s.queue.length === 0 || s.dead))
    );
  }

  private submit<T>(
    slot: number | undefined,
    build: Task['build'],
    urgency?: Urgency,
    verify?: readonly VerifyItem[],
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const task: Task = {
        build,
        urgent: urgency?.urgent ?? false,
        verify,
        resolve: resolve as (v: unknown) => void,
        reject,
      };
      if (slot === undefined) {
        if (this.slots.every((s) => s.dead)) {
          reject(new WorkerCrashedError(-1, 'every worker of the pool failed to start'));
          return;
        }
        this.queueShared(task);
        if (!task.urgent) {
          urgency?.onRaise(() => this.expedite(task));
        }
        for (const s of this.slots) {
          this.pump(s);
        }
      } else {
        const s = this.slots[slot] as Slot;
        if (s.dead) {
          reject(new WorkerCrashedError(slot, s.lastError ?? 'the worker failed to start'));
          return;
        }
        s.queue.push(task);
        this.pump(s);
      }
    });
  }

  /** Urgent tasks go after the urgent ones already queued, ordinary ones at the end. */
  private queueShared(task: Task): void {
    const firstOrdinary = task.urgent ? this.shared.findIndex((t) => !t.urgent) : -1;
    this.shared.splice(firstOrdinary === -1 ? this.shared.length : firstOrdinary, 0, task);
  }

  /** A queued task raised to urgent moves up; one already taken by a worker is left alone. */
  private expedite(task: Task): void {
    const at = this.shared.indexOf(task);
    if (at === -1 || task.urgent) {
      return;
    }
    this.shared.splice(at, 1);
    task.urgent = true;
    this.queueShared(task);
  }

  /** Wakes close() once nothing is queued or running (a finished task, or a worker that died). */
  private notifyIfIdle(): void {
    if (!this.isIdle()) {
      return;
    }
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) {
      w();
    }
  }

  private pump(s: Slot): void {
    if (!s.ready || s.busy !== undefined || s.worker === undefined) {
      return;
    }
    const task = s.queue.shift() ?? this.takeShared();
    if (task === undefined) {
      this.notifyIfIdle();
      return;
    }
    s.busy = task;
    if (task.verify !== undefined) {
      this.verifyBatches += 1;
      this.verifiedReports += task.verify.length;
    }
    const { msg, transfer } = task.build(this.nextTaskId++);
    s.worker.postMessage(msg, transfer);
  }

  /**
   * The next shared task. Verifications queued one after another (all waited for a busy worker) run
   * as one weighted batch check, up to MERGED_VERIFY_REPORTS reports; each caller gets its own
   * verdicts, since a failing batch is bisected down to the bad reports. Only neighbours of the same
   * urgency merge, so urgent work keeps its place ahead of the rest.
   */
  private takeShared(): Task | undefined {
    const first = this.shared.shift();
    if (first?.verify === undefined) {
      return first;
    }
    const parts: Task[] = [first];
    let count = first.verify.length;
    for (;;) {
      const next = this.shared[0];
      if (
        next?.verify === undefined ||
        next.urgent !== first.urgent ||
        count + next.verify.length > MERGED_VERIFY_REPORTS
      ) {
        break;
      }
      parts.push(this.shared.shift() as Task);
      count += next.verify.length;
    }
    if (parts.length === 1) {
      return first;
    }
    const items = parts.flatMap((p) => p.verify ?? []);
    return {
      build: (taskId) => this.verifyMessage(taskId, items),
      urgent: first.urgent,
      verify: items,
      resolve: (value) => {
        const verdicts = value as ReportVerdict[];
        let offset = 0;
        for (const part of parts) {
          const n = part.verify?.length ?? 0;
          part.resolve(verdicts.slice(offset, offset + n));
          offset += n;
        }
      },
      reject: (error) => {
        for (const part of parts) {
          part.reject(error);
        }
      },
    };
  }

  private spawn(s: Slot): Promise<void> {
    return new Promise<void>((resolveStarted, rejectStarted) => {
      const worker = new Worker(this.source.code, { eval: this.source.eval, workerData: this.init });
      s.worker = worker;
      s.ready = false;
      let started = false;
      worker.on('message', (m: FromWorker) => {
        if (m.type === 'ready') {
          started = true;
          s.failedStarts = 0;
          // A replacement first gets the receiver keys its predecessor had.
          s.queue.unshift(
            ...this.receivers.map((r) => ({
              build: this.addReceiverTask(r.handle, r.id, r.secret),
              urgent: false,
              resolve: () => undefined,
              reject: () => undefined,
            })),
          );
          s.ready = true;
          resolveStarted();
          this.pump(s);
          return;
        }
        const task = s.busy;
        s.busy = undefined;
        if (task !== undefined) {
          if (m.type === 'result') {
            task.resolve(m.value);
          } else {
            task.reject(deserializeError(m.error));
          }
        }
        this.pump(s);
      });
      worker.on('error', (e) => {
        s.lastError = e.message;
      });
      worker.on('exit', (code) => {
        if (s.worker !== worker) {
          return; // terminated by close()
        }
        s.worker = undefined;
        s.ready = false;
        const reason = s.lastError ?? `exited with code ${code}`;
        s.lastError = undefined;
        const task = s.busy;
        s.busy = undefined;
        task?.reject(new WorkerCrashedError(s.index, reason));
        if (!started) {
          s.failedStarts += 1;
        }
        if (s.failedStarts >= MAX_FAILED_STARTS) {
          s.dead = true;
          s.lastError = reason;
          for (const t of s.queue.splice(0)) {
            t.reject(new WorkerCrashedError(s.index, `the worker cannot start: ${reason}`));
          }
          if (this.slots.every((x) => x.dead)) {
            for (const t of this.shared.splice(0)) {
              t.reject(new WorkerCrashedError(s.index, `no worker can start: ${reason}`));
            }
          }
          rejectStarted(new WorkerCrashedError(s.index, `the worker cannot start: ${reason}`));
          this.pump(s);
          this.notifyIfIdle();
          return;
        }
        if (this.closing && this.isIdle()) {
          // The task it was running was the last: close() may be waiting for exactly this.
          this.notifyIfIdle();
          return;
        }
        // Replace the worker; the first start() waits for the replacement if this was its start.
        this.spawn(s).then(resolveStarted, rejectStarted);
      });
    });
  }
}

/** The meter ID of a report from its bytes (version byte, then u8 length and the ID). */
function meterIdOf(bytes: Uint8Array): string {
  const len = bytes[1] ?? 0;
  return Buffer.from(
    bytes.buffer,
    bytes.byteOffset + 2,
    Math.max(0, Math.min(len, bytes.length - 2)),
  ).toString('latin1');
}
