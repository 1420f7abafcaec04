import { Logger } from '@nestjs/common';
import type { Pool, PoolClient } from 'pg';

import {
  canonicalJson,
  type Clock,
  ConcurrencyError,
  type EventMetadata,
  InvalidInputError,
  type NewEvent,
  type RecordedEvent,
  type StoredEvent,
  systemClock,
} from '@app/kernel';
import { inTransaction, type SqlExecutor } from '@app/persistence';

import { chainHash, contentHash, GENESIS_CHAIN_HASH } from './event-hash';

/** A job for BullMQ, written to the outbox in the same transaction as the events that cause it. */
export interface OutboxJob {
  queue: string;
  name: string;
  /** Idempotency key: BullMQ's jobId, and what consumers record as processed. */
  jobId: string;
  payload: object;
}

export interface AppendRequest {
  streamId: string;
  /** The stream's version before this append; 0 for a stream that must not exist yet. */
  expectedVersion: number;
  events: readonly NewEvent[];
  jobs?: readonly OutboxJob[];
}

export interface AppendResult {
  streamId: string;
  /** The stream's version after the append: the expectedVersion of the next one. */
  version: number;
  events: RecordedEvent[];
}

export type AppendOutcome = AppendResult | ConcurrencyError;

export interface VerifyProblem {
  position: bigint;
  reason: 'missing' | 'content-mismatch' | 'chain-mismatch' | 'truncated' | 'anchor-mismatch';
  message: string;
}

/** A (position, chain hash) pair recorded elsewhere (a block header, a signed head digest). */
export interface JournalAnchor {
  position: bigint;
  chainHash: Uint8Array;
}

export interface VerifyReport {
  ok: boolean;
  checked: number;
  headPosition: bigint;
  /** The first position that does not hold, with what is wrong with it. */
  firstProblem?: VerifyProblem;
}

export interface EventStoreOptions {
  clock?: Clock;
  /** Upper bound on events per group-committed batch. */
  maxBatchEvents?: number;
}

/** After-commit listener: receives the events of each committed append, in position order. */
export type AppendListener = (events: RecordedEvent[]) => void;

interface PreparedCommand {
  wire: WireCommand;
  streamId: string;
  expectedVersion: number;
  events: Array<Omit<RecordedEvent, 'position'>>;
}

interface WireCommand {
  s: string;
  e: number;
  events: Array<{ t: string; sv: number; p: object; m: EventMetadata; at: number; h: string }>;
  jobs?: Array<{ q: string; n: string; id: string; p: object }>;
}

interface WireResult {
  results: Array<{ ok: true; first: number | string } | { ok: false; actual: number }>;
  head: number | string;
}

interface QueuedBatch {
  commands: PreparedCommand[];
  eventCount: number;
  resolve: (outcomes: AppendOutcome[]) => void;
  reject: (error: unknown) => void;
}

interface EventRow {
  position: string;
  stream_id: string;
  stream_version: number;
  type: string;
  schema_version: number;
  payload: Record<string, unknown>;
  metadata: EventMetadata;
  occurred_at: Date;
  content_hash: Buffer;
  chain_hash: Buffer;
}

const MAX_STREAM_ID_LENGTH = 200;
const MAX_TYPE_LENGTH = 200;
const EVENT_COLUMNS =
  'position, stream_id, stream_version, type, schema_version, payload, metadata, occurred_at, content_hash, chain_hash';

/**
 * The append-only event store on Postgres (DESIGN.md section 6, STYLE.md 2.4).
 *
 * Appends go through the SQL function cbsg_append_events, which takes one advisory lock, so positions
 * are gapless and in commit order and the hash chain is built under the lock. Appends made outside a
 * caller's transaction are group-committed: while one batch is being written, the next requests
 * queue up and go together in the next statement, each keeping its own concurrency check. A caller
 * that also writes other rows uses `transaction`, which appends at the very end of its transaction so
 * that the lock is held only for the commit.
 */
export class EventStore {
  private readonly clock: Clock;
  private readonly maxBatchEvents: number;
  private readonly queue: QueuedBatch[] = [];
  private flushing = false;
  private readonly listeners = new Set<AppendListener>();
  private readonly logger = new Logger(EventStore.name);

  constructor(
    private readonly pool: Pool,
    options: EventStoreOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.maxBatchEvents = options.maxBatchEvents ?? 5_000;
  }

  /** Appends to one stream; throws ConcurrencyError if the stream is not at `expectedVersion`. */
  async append(request: AppendRequest): Promise<AppendResult> {
    const [outcome] = await this.appendMany([request]);
    if (outcome === undefined) {
      throw new Error('append produced no outcome');
    }
    if (outcome instanceof ConcurrencyError) {
      throw outcome;
    }
    return outcome;
  }

  /**
   * Appends to several streams at once. Each request succeeds or fails on its own: a stale
   * expectedVersion yields a ConcurrencyError in its slot and does not stop the others.
   */
  appendMany(requests: readonly AppendRequest[]): Promise<AppendOutcome[]> {
    const commands = requests.map((r) => this.prepare(r));
    if (commands.length === 0) {
      return Promise.resolve([]);
    }
    return new Promise<AppendOutcome[]>((resolve, reject) => {
      this.queue.push({
        commands,
        eventCount: commands.reduce((n, c) => n + c.events.length, 0),
        resolve,
        reject,
      });
      this.scheduleFlush();
    });
  }

  /**
   * Runs `work` in a transaction; the appends it asks for are written at the end of that same
   * transaction, all or nothing (a stale expected version rolls everything back with
   * ConcurrencyError). Listeners hear of the events only after COMMIT.
   */
  async transaction<T>(
    work: (uow: UnitOfWork) => Promise<T>,
  ): Promise<{ result: T; appended: AppendResult[] }> {
    const committed = await inTransaction(this.pool, async (client) => {
      const uow = new UnitOfWork(client);
      const result = await work(uow);
      const commands = uow.pending.map((r) => this.prepare(r));
      const outcomes = commands.length === 0 ? [] : await this.write(client, commands);
      const appended: AppendResult[] = [];
      for (const outcome of outcomes) {
        if (outcome instanceof ConcurrencyError) {
          throw outcome;
        }
        appended.push(outcome);
      }
      return { result, appended };
    });
    this.publish(committed.appended);
    return committed;
  }

  /** Called with the events of every append this instance commits, after the commit. */
  onAppended(listener: AppendListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async readStream(streamId: string, fromVersion = 1): Promise<StoredEvent[]> {
    const { rows } = await this.pool.query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE stream_id = $1 AND stream_version >= $2 ORDER BY stream_version`,
      [streamId, fromVersion],
    );
    return rows.map(toStoredEvent);
  }

  /** Events after `afterPosition`, in order. Safe for subscriptions: see the class comment. */
  async readAll(
    afterPosition: bigint,
    limit = 1_000,
    executor: SqlExecutor = this.pool,
  ): Promise<StoredEvent[]> {
    const { rows } = await executor.query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE position > $1 ORDER BY position LIMIT $2`,
      [afterPosition.toString(), limit],
    );
    return rows.map(toStoredEvent);
  }

  async streamVersion(streamId: string): Promise<number> {
    const { rows } = await this.pool.query<{ version: number | null }>(
      'SELECT MAX(stream_version) AS version FROM events WHERE stream_id = $1',
      [streamId],
    );
    return rows[0]?.version ?? 0;
  }

  async headPosition(): Promise<bigint> {
    const { rows } = await this.pool.query<{ position: string }>(
      'SELECT position FROM events ORDER BY position DESC LIMIT 1',
    );
    return BigInt(rows[0]?.position ?? 0);
  }

  /**
   * Recomputes every content hash and the hash chain from position 1 and names the first position
   * that does not hold: a deleted row leaves a gap, an edited row no longer matches its content hash,
   * and a row whose hashes were rewritten breaks the chain at the next position.
   */
  async verify(
    options: { batchSize?: number; onProgress?: (checked: number) => void; anchor?: JournalAnchor } = {},
  ): Promise<VerifyReport> {
    const batchSize = options.batchSize ?? 5_000;
    const anchor = options.anchor;
    let previousChain: Uint8Array = GENESIS_CHAIN_HASH;
    let expected = 1n;
    let checked = 0;
    for (;;) {
      const rows = await this.readAll(expected - 1n, batchSize);
      for (const event of rows) {
        const problem = checkEvent(event, expected, previousChain);
        if (problem) {
          return { ok: false, checked, headPosition: await this.headPosition(), firstProblem: problem };
        }
        if (
          anchor &&
          event.position === anchor.position &&
          !Buffer.from(anchor.chainHash).equals(event.chainHash)
        ) {
          return {
            ok: false,
            checked,
            headPosition: await this.headPosition(),
            firstProblem: {
              position: event.position,
              reason: 'anchor-mismatch',
              message: `position ${event.position} does not match the chain hash recorded outside the database`,
            },
          };
        }
        previousChain = event.chainHash;
        expected += 1n;
        checked += 1;
      }
      options.onProgress?.(checked);
      if (rows.length < batchSize) {
        const head = expected - 1n;
        if (anchor && head < anchor.position) {
          // Deleting the newest rows leaves no gap; only a hash recorded elsewhere can show it.
          return {
            ok: false,
            checked,
            headPosition: head,
            firstProblem: {
              position: head + 1n,
              reason: 'truncated',
              message: `the journal ends at ${head}, but position ${anchor.position} was recorded outside the database`,
            },
          };
        }
        return { ok: true, checked, headPosition: head };
      }
    }
  }

  private prepare(request: AppendRequest): PreparedCommand {
    const { streamId, expectedVersion } = request;
    if (typeof streamId !== 'string' || streamId.length === 0 || streamId.length > MAX_STREAM_ID_LENGTH) {
      throw new InvalidInputError(
        'EVENT_STORE.BAD_STREAM_ID',
        `stream id must be 1..${MAX_STREAM_ID_LENGTH} characters`,
      );
    }
    if (!Number.isSafeInteger(expectedVersion) || expectedVersion < 0) {
      throw new InvalidInputError(
        'EVENT_STORE.BAD_EXPECTED_VERSION',
        'expected version must be an integer >= 0',
        {
          streamId,
        },
      );
    }
    if (request.events.length === 0) {
      throw new InvalidInputError('EVENT_STORE.EMPTY_APPEND', 'an append needs at least one event', {
        streamId,
      });
    }
    const now = this.clock.now();
    const events: PreparedCommand['events'] = [];
    const wireEvents: WireCommand['events'] = [];
    request.events.forEach((event, i) => {
      if (typeof event.type !== 'string' || event.type.length === 0 || event.type.length > MAX_TYPE_LENGTH) {
        throw new InvalidInputError(
          'EVENT_STORE.BAD_EVENT_TYPE',
          `event type must be 1..${MAX_TYPE_LENGTH} characters`,
        );
      }
      if (!Number.isInteger(event.schemaVersion) || event.schemaVersion < 1) {
        throw new InvalidInputError(
          'EVENT_STORE.BAD_SCHEMA_VERSION',
          'schema version must be an integer >= 1',
          {
            type: event.type,
          },
        );
      }
      const occurredAt = event.occurredAt ?? now;
      const metadata = event.metadata ?? {};
      let payloadJson: string;
      try {
        payloadJson = canonicalJson(event.payload);
      } catch (error) {
        throw new InvalidInputError(
          'EVENT_STORE.BAD_PAYLOAD',
          `payload of ${event.type}: ${(error as Error).message}`,
        );
      }
      const recorded = {
        streamId,
        streamVersion: expectedVersion + i + 1,
        type: event.type,
        schemaVersion: event.schemaVersion,
        payload: JSON.parse(payloadJson) as Record<string, unknown>,
        metadata,
        occurredAt,
      };
      events.push(recorded);
      wireEvents.push({
        t: event.type,
        sv: event.schemaVersion,
        p: recorded.payload,
        m: metadata,
        at: occurredAt.getTime(),
        h: contentHash(recorded, payloadJson).toString('hex'),
      });
    });
    const wire: WireCommand = { s: streamId, e: expectedVersion, events: wireEvents };
    if (request.jobs && request.jobs.length > 0) {
      wire.jobs = request.jobs.map((job) => ({ q: job.queue, n: job.name, id: job.jobId, p: job.payload }));
    }
    return { wire, streamId, expectedVersion, events };
  }

  private async write(executor: SqlExecutor, commands: PreparedCommand[]): Promise<AppendOutcome[]> {
    const { rows } = await executor.query<{ out: WireResult }>(
      'SELECT cbsg_append_events($1::jsonb) AS out',
      [JSON.stringify({ commands: commands.map((c) => c.wire) })],
    );
    const out = rows[0]?.out;
    if (!out || out.results.length !== commands.length) {
      throw new Error('cbsg_append_events returned an unexpected result');
    }
    return commands.map((command, i) => {
      const result = out.results[i]!;
      if (!result.ok) {
        return new ConcurrencyError(command.streamId, command.expectedVersion, result.actual);
      }
      const first = BigInt(result.first);
      return {
        streamId: command.streamId,
        version: command.expectedVersion + command.events.length,
        events: command.events.map((event, k) => ({ ...event, position: first + BigInt(k) })),
      };
    });
  }

  private scheduleFlush(): void {
    if (this.flushing) {
      return;
    }
    this.flushing = true;
    setImmediate(() => void this.flush());
  }

  /** Writes queued appends, one statement (and one implicit transaction) per batch, until none are left. */
  private async flush(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch: QueuedBatch[] = [];
        let events = 0;
        while (this.queue.length > 0) {
          const next = this.queue[0]!;
          if (batch.length > 0 && events + next.eventCount > this.maxBatchEvents) {
            break;
          }
          batch.push(next);
          events += next.eventCount;
          this.queue.shift();
        }
        try {
          const outcomes = await this.write(
            this.pool,
            batch.flatMap((b) => b.commands),
          );
          let offset = 0;
          for (const queued of batch) {
            const mine = outcomes.slice(offset, offset + queued.commands.length);
            offset += queued.commands.length;
            queued.resolve(mine);
          }
          this.publish(outcomes.filter((o): o is AppendResult => !(o instanceof ConcurrencyError)));
        } catch (error) {
          for (const queued of batch) {
            queued.reject(error);
          }
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  private publish(results: AppendResult[]): void {
    if (results.length === 0 || this.listeners.size === 0) {
      return;
    }
    const events = results.flatMap((r) => r.events).sort((a, b) => (a.position < b.position ? -1 : 1));
    for (const listener of this.listeners) {
      try {
        listener(events);
      } catch (error) {
        // The events are committed whatever a listener does; its failure is its own.
        this.logger.error(
          `an after-commit listener failed: ${(error as Error).message}`,
          (error as Error).stack,
        );
      }
    }
  }
}

/** What a transaction asks the store to append when it commits. */
export class UnitOfWork {
  readonly pending: AppendRequest[] = [];

  constructor(
    /** The transaction's connection, for the work's own reads and writes. */
    readonly sql: PoolClient,
  ) {}

  append(request: AppendRequest): void {
    this.pending.push(request);
  }
}

function toStoredEvent(row: EventRow): StoredEvent {
  return {
    position: BigInt(row.position),
    streamId: row.stream_id,
    streamVersion: row.stream_version,
    type: row.type,
    schemaVersion: row.schema_version,
    payload: row.payload,
    metadata: row.metadata,
    occurredAt: row.occurred_at,
    contentHash: row.content_hash,
    chainHash: row.chain_hash,
  };
}

function checkEvent(
  event: StoredEvent,
  expected: bigint,
  previousChain: Uint8Array,
): VerifyProblem | undefined {
  if (event.position !== expected) {
    return {
      position: expected,
      reason: 'missing',
      message: `position ${expected} is missing (the next stored is ${event.position}): a row was deleted`,
    };
  }
  let recomputed: Buffer;
  try {
    recomputed = contentHash(event);
  } catch {
    recomputed = Buffer.alloc(0);
  }
  if (!recomputed.equals(event.contentHash)) {
    return {
      position: expected,
      reason: 'content-mismatch',
      message: `event at position ${expected} does not match its content hash: the row was edited`,
    };
  }
  if (!chainHash(previousChain, event.position, event.contentHash).equals(event.chainHash)) {
    return {
      position: expected,
      reason: 'chain-mismatch',
      message: `the hash chain breaks at position ${expected}: hashes were rewritten at or before it`,
    };
  }
  return undefined;
}
