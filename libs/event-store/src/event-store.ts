import { Logger } from '@nestjs/common';
import type { Pool, PoolClient } from 'pg';

import {
  canonicalJson,
  canonicalJsonOf,
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
  /**
   * Group-committed batches this instance sends at once. They queue on the append lock in Postgres,
   * but the next batch's encoding and network time overlap with the current one's commit.
   */
  maxFlushesInFlight?: number;
  /** The queues an outbox job may name (the relay can deliver to no other); any when absent. */
  queues?: readonly string[];
}

/** After-commit listener: receives the events of each committed append, in position order. */
export type AppendListener = (events: RecordedEvent[]) => void;

interface PreparedEvent extends Omit<RecordedEvent, 'position'> {
  payloadJson: string;
  metadataJson: string;
  contentHash: Buffer;
}

interface PreparedCommand {
  streamId: string;
  expectedVersion: number;
  events: PreparedEvent[];
  jobs: readonly OutboxJob[];
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
/**
 * Refused before the batch, as canonicalJsonOf refuses them in payloads: Postgres text cannot hold
 * NUL, and a lone surrogate is stored as U+FFFD (its hash then no longer matches). Either would fail,
 * or corrupt, the group-committed statement of every append written with it.
 */
// eslint-disable-next-line no-control-regex -- NUL is exactly what this looks for
const UNSTORABLE_CHARACTER = /[\u0000\uD800-\uDFFF]/u;

/**
 * BullMQ throws on a custom id that is an integer or holds ':' (job.js validateOptions; it still lets
 * three-part ids through for old repeatable jobs, a leniency it means to drop).
 */
function isBullmqJobId(jobId: string): boolean {
  return `${parseInt(jobId, 10)}` !== jobId && !jobId.includes(':');
}

function isJsonable(payload: unknown): boolean {
  try {
    canonicalJsonOf(payload);
    return true;
  } catch {
    return false;
  }
}

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
  private flushesInFlight = 0;
  private readonly maxFlushesInFlight: number;
  private readonly queues: readonly string[] | undefined;
  private readonly listeners = new Set<AppendListener>();
  private readonly logger = new Logger(EventStore.name);

  constructor(
    private readonly pool: Pool,
    options: EventStoreOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.maxBatchEvents = options.maxBatchEvents ?? 5_000;
    this.maxFlushesInFlight = options.maxFlushesInFlight ?? 2;
    this.queues = options.queues;
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
      const outcomes = await this.appendInTransaction(client, uow.pending);
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

  /**
   * Appends inside a transaction the caller manages (BEGIN issued, COMMIT to follow): the append lock
   * is then held until that COMMIT. A stale expected version comes back as a ConcurrencyError in its
   * slot; the caller decides whether to roll back. Listeners are not told (this store cannot see the
   * commit); projections still see the events through the journal.
   */
  async appendInTransaction(tx: SqlExecutor, requests: readonly AppendRequest[]): Promise<AppendOutcome[]> {
    const commands = requests.map((r) => this.prepare(r));
    return commands.length === 0 ? [] : this.write(tx, commands);
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
    return (await this.streamVersions([streamId])).get(streamId) ?? 0;
  }

  /** Current versions of several streams in one read (absent: the stream does not exist yet). */
  async streamVersions(
    streamIds: readonly string[],
    sql: SqlExecutor = this.pool,
  ): Promise<Map<string, number>> {
    if (streamIds.length === 0) {
      return new Map();
    }
    const { rows } = await sql.query<{ stream_id: string; version: number }>(
      'SELECT stream_id, MAX(stream_version) AS version FROM events WHERE stream_id = ANY($1::text[]) GROUP BY stream_id',
      [[...new Set(streamIds)]],
    );
    return new Map(rows.map((r) => [r.stream_id, r.version]));
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
    if (
      typeof streamId !== 'string' ||
      streamId.length === 0 ||
      streamId.length > MAX_STREAM_ID_LENGTH ||
      UNSTORABLE_CHARACTER.test(streamId)
    ) {
      throw new InvalidInputError(
        'EVENT_STORE.BAD_STREAM_ID',
        `stream id must be 1..${MAX_STREAM_ID_LENGTH} characters, without NUL or lone surrogates`,
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
    const events = request.events.map((event, i): PreparedEvent => {
      if (
        typeof event.type !== 'string' ||
        event.type.length === 0 ||
        event.type.length > MAX_TYPE_LENGTH ||
        UNSTORABLE_CHARACTER.test(event.type)
      ) {
        throw new InvalidInputError(
          'EVENT_STORE.BAD_EVENT_TYPE',
          `event type must be 1..${MAX_TYPE_LENGTH} characters, without NUL or lone surrogates`,
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
      let payload: ReturnType<typeof canonicalJsonOf>;
      let metadata: ReturnType<typeof canonicalJsonOf>;
      try {
        payload = canonicalJsonOf(event.payload);
        metadata = canonicalJsonOf(event.metadata ?? {});
      } catch (error) {
        throw new InvalidInputError('EVENT_STORE.BAD_PAYLOAD', `${event.type}: ${(error as Error).message}`);
      }
      const prepared: PreparedEvent = {
        streamId,
        streamVersion: expectedVersion + i + 1,
        type: event.type,
        schemaVersion: event.schemaVersion,
        // What a reader will get back from the jsonb column (Dates become strings, undefined goes);
        // the caller's object itself when that is the same thing. Payloads are not to be mutated after append.
        payload: (payload.sameAsInput ? event.payload : JSON.parse(payload.json)) as Record<string, unknown>,
        metadata: (metadata.sameAsInput
          ? (event.metadata ?? {})
          : JSON.parse(metadata.json)) as EventMetadata,
        occurredAt: event.occurredAt ?? now,
        payloadJson: payload.json,
        metadataJson: metadata.json,
        contentHash: EMPTY,
      };
      prepared.contentHash = contentHash(prepared, payload.json, metadata.json);
      return prepared;
    });
    for (const job of request.jobs ?? []) {
      if (!job.queue || !job.name || !job.jobId) {
        throw new InvalidInputError(
          'EVENT_STORE.BAD_JOB',
          'an outbox job needs a queue, a name and a jobId',
          {
            streamId,
          },
        );
      }
      // Refused here, alone: in the outbox the row would fail its group's INSERT, or BullMQ's addBulk
      // on every relay pass, and the relay (oldest rows first) would never get past it.
      if (
        [job.queue, job.name, job.jobId].some(
          (text) => typeof text !== 'string' || UNSTORABLE_CHARACTER.test(text),
        ) ||
        !isBullmqJobId(job.jobId) ||
        !isJsonable(job.payload)
      ) {
        throw new InvalidInputError(
          'EVENT_STORE.BAD_JOB',
          'an outbox job needs text without NUL or lone surrogates, a jobId that is not an integer and ' +
            "has no ':', and a JSON payload",
          { streamId, jobId: job.jobId },
        );
      }
      if (this.queues !== undefined && !this.queues.includes(job.queue)) {
        throw new InvalidInputError('EVENT_STORE.BAD_JOB', `no queue named "${job.queue}"`, {
          streamId,
          jobId: job.jobId,
        });
      }
    }
    return { streamId, expectedVersion, events, jobs: request.jobs ?? [] };
  }

  /**
   * Writes commands inside the caller's open transaction, under the append lock (released by that
   * transaction's COMMIT or ROLLBACK). The lock is what makes positions gapless and commit-ordered:
   * see the class comment.
   */
  private async write(
    client: SqlExecutor,
    commands: PreparedCommand[],
    options: { assumeNewStreams?: boolean } = {},
  ): Promise<AppendOutcome[]> {
    // Encoded before taking the lock, on the (usual) assumption that every command is accepted.
    const encoded = encodeRows(commands);
    await client.query('SELECT pg_advisory_xact_lock($1)', [APPEND_LOCK]);
    // A new statement, so a new snapshot: it sees every append committed before the lock was granted.
    const head = await readHead(
      client,
      options.assumeNewStreams ? [] : [...new Set(commands.map((c) => c.streamId))],
    );
    let position = head.position;
    let chain = head.chainHash;
    const firstPosition = position + 1n;

    // Decided in order: two commands on one stream in one batch behave as if sent one after the other.
    const outcomes: AppendOutcome[] = [];
    const accepted: PreparedCommand[] = [];
    const chains: Buffer[] = [];
    for (const command of commands) {
      const actual = head.versions.get(command.streamId) ?? 0;
      if (actual !== command.expectedVersion) {
        outcomes.push(new ConcurrencyError(command.streamId, command.expectedVersion, actual));
        continue;
      }
      accepted.push(command);
      const recorded: RecordedEvent[] = [];
      for (const event of command.events) {
        position += 1n;
        chain = chainHash(chain, position, event.contentHash);
        chains.push(chain as Buffer);
        recorded.push({
          position,
          streamId: event.streamId,
          streamVersion: event.streamVersion,
          type: event.type,
          schemaVersion: event.schemaVersion,
          payload: event.payload,
          metadata: event.metadata,
          occurredAt: event.occurredAt,
        });
      }
      head.versions.set(command.streamId, command.expectedVersion + command.events.length);
      outcomes.push({
        streamId: command.streamId,
        version: command.expectedVersion + command.events.length,
        events: recorded,
      });
    }
    if (chains.length > 0) {
      await insertRows(
        client,
        accepted.length === commands.length ? encoded : encodeRows(accepted),
        chains,
        firstPosition,
      );
    }
    return outcomes;
  }

  /**
   * A batch that only creates streams (expected version 0, each stream once, as report intake does)
   * skips reading 1,000 stream versions under the lock: the unique (stream, version) index refuses
   * version 1 of a stream that exists, and that rare batch is then redone the careful way.
   */
  private async writeBatch(commands: PreparedCommand[]): Promise<AppendOutcome[]> {
    const onlyNewStreams =
      commands.every((c) => c.expectedVersion === 0) &&
      new Set(commands.map((c) => c.streamId)).size === commands.length;
    if (onlyNewStreams) {
      try {
        return await inTransaction(this.pool, (client) =>
          this.write(client, commands, { assumeNewStreams: true }),
        );
      } catch (error) {
        if ((error as { code?: string }).code !== UNIQUE_VIOLATION) {
          throw error;
        }
      }
    }
    return inTransaction(this.pool, (client) => this.write(client, commands));
  }

  private scheduleFlush(): void {
    if (this.flushesInFlight >= this.maxFlushesInFlight || this.queue.length === 0) {
      return;
    }
    this.flushesInFlight += 1;
    setImmediate(() => void this.flush());
  }

  /** Writes the queued appends that fit in one batch, in one transaction. */
  private async flush(): Promise<void> {
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
      if (batch.length === 0) {
        return;
      }
      const commands = batch.flatMap((b) => b.commands);
      const outcomes = await this.writeBatch(commands);
      let offset = 0;
      for (const queued of batch) {
        queued.resolve(outcomes.slice(offset, offset + queued.commands.length));
        offset += queued.commands.length;
      }
      this.publish(outcomes.filter((o): o is AppendResult => !(o instanceof ConcurrencyError)));
    } catch (error) {
      for (const queued of batch) {
        queued.reject(error);
      }
    } finally {
      this.flushesInFlight -= 1;
      this.scheduleFlush();
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

/** Transaction-scoped advisory lock that serialises appends (an arbitrary constant of ours). */
const APPEND_LOCK = 7243001;

const UNIQUE_VIOLATION = '23505';
const EMPTY = Buffer.alloc(0);

interface Head {
  position: bigint;
  chainHash: Uint8Array;
  /** Current versions of the streams asked for (absent: the stream does not exist). */
  versions: Map<string, number>;
}

async function readHead(client: SqlExecutor, streams: string[]): Promise<Head> {
  const { rows } = await client.query<{
    position: string | null;
    chain_hash: Buffer | null;
    versions: Record<string, number> | null;
  }>(
    // One index probe per stream (a correlated subquery), whatever the table's statistics say.
    `SELECT head.position, head.chain_hash,
            (SELECT json_object_agg(s.stream_id, s.version) FROM
               (SELECT u.stream_id, (SELECT MAX(e.stream_version) FROM events e WHERE e.stream_id = u.stream_id) AS version
                FROM unnest($1::text[]) AS u(stream_id)) s
             WHERE s.version IS NOT NULL
            ) AS versions
     FROM (SELECT 1) one
     LEFT JOIN LATERAL (SELECT position, chain_hash FROM events ORDER BY position DESC LIMIT 1) head ON true`,
    [streams],
  );
  const row = rows[0];
  return {
    position: BigInt(row?.position ?? 0),
    chainHash: row?.chain_hash ?? GENESIS_CHAIN_HASH,
    versions: new Map(Object.entries(row?.versions ?? {})),
  };
}

/** The parameters of insertRows that do not depend on positions or chain hashes. */
interface EncodedRows {
  /** [stream id, stream version, type, schema version, occurred at (epoch ms)] per row, as JSON. */
  rows: string;
  payloads: string;
  metadata: string;
  contentHashes: Buffer[];
  jobs: OutboxJob[];
}

function encodeRows(commands: readonly PreparedCommand[]): EncodedRows {
  const events = commands.flatMap((c) => c.events);
  return {
    // JSON is cheaper to produce than five Postgres array literals.
    rows: JSON.stringify(
      events.map((e) => [e.streamId, e.streamVersion, e.type, e.schemaVersion, e.occurredAt.getTime()]),
    ),
    payloads: `[${events.map((e) => e.payloadJson).join(',')}]`,
    metadata: `[${events.map((e) => e.metadataJson).join(',')}]`,
    contentHashes: events.map((e) => e.contentHash),
    jobs: commands.flatMap((c) => c.jobs),
  };
}

/**
 * One statement for all rows and jobs: JSON arrays unnested side by side. Positions are consecutive
 * from `first`, and the hashes travel as one binary blob of 64-byte slices (content, chain), which
 * spares encoding thousands of bytea array elements.
 */
async function insertRows(
  client: SqlExecutor,
  encoded: EncodedRows,
  chains: Buffer[],
  first: bigint,
): Promise<void> {
  const hashes = Buffer.allocUnsafe(chains.length * 64);
  chains.forEach((chain, i) => {
    encoded.contentHashes[i]!.copy(hashes, i * 64);
    chain.copy(hashes, i * 64 + 32);
  });
  const last = first + BigInt(chains.length) - 1n;
  const { jobs } = encoded;
  await client.query(
    `WITH inserted AS (
       INSERT INTO events (position, stream_id, stream_version, type, schema_version, payload, metadata,
                           occurred_at, content_hash, chain_hash)
       SELECT $1::bigint + r.o - 1, r.row->>0, (r.row->>1)::integer, r.row->>2, (r.row->>3)::integer, r.payload, r.metadata,
              TIMESTAMPTZ 'epoch' + (r.row->>4)::bigint * INTERVAL '1 millisecond',
              substring($5::bytea FROM (r.o::integer - 1) * 64 + 1 FOR 32), substring($5::bytea FROM (r.o::integer - 1) * 64 + 33 FOR 32)
       FROM ROWS FROM (
         jsonb_array_elements($2::jsonb), jsonb_array_elements($3::jsonb), jsonb_array_elements($4::jsonb)
       ) WITH ORDINALITY AS r(row, payload, metadata, o)
       RETURNING 1
     ), jobs AS (
       INSERT INTO outbox (queue, job_name, job_id, payload)
       SELECT * FROM ROWS FROM (unnest($6::text[]), unnest($7::text[]), unnest($8::text[]), jsonb_array_elements($9::jsonb))
       ON CONFLICT (job_id) DO NOTHING
       RETURNING 1
     )
     SELECT pg_notify('cbsg_events', $10),
            CASE WHEN EXISTS (SELECT 1 FROM jobs) THEN pg_notify('cbsg_outbox', '') END,
            (SELECT count(*) FROM inserted) AS inserted`,
    [
      first.toString(),
      encoded.rows,
      encoded.payloads,
      encoded.metadata,
      hashes,
      jobs.map((j) => j.queue),
      jobs.map((j) => j.name),
      jobs.map((j) => j.jobId),
      canonicalJson(jobs.map((j) => j.payload)),
      last.toString(),
    ],
  );
}
