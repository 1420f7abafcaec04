import { ConcurrencyError, InvalidInputError, ManualClock } from '@app/kernel';
import { createTestDatabase, type TestDatabase } from '@app/testing';

import { contentHash, EventStore } from '../src';

const event = (n: number) => ({ type: 'test.thing-happened', schemaVersion: 1, payload: { n } });

describe('EventStore (Postgres)', () => {
  let db: TestDatabase;
  let store: EventStore;

  beforeEach(async () => {
    db = await createTestDatabase({ poolSize: 25 });
    store = new EventStore(db.pool, { clock: new ManualClock(Date.UTC(2026, 10, 26, 12)) });
  });

  afterEach(async () => {
    await db.drop();
  });

  it('given appends to two streams, when read back, should return each stream in version order and all in position order', async () => {
    await store.append({ streamId: 'meter-1', expectedVersion: 0, events: [event(1), event(2)] });
    await store.append({ streamId: 'meter-2', expectedVersion: 0, events: [event(3)] });
    await store.append({
      streamId: 'meter-1',
      expectedVersion: 2,
      events: [
        { ...event(4), metadata: { correlationId: 'c-1', causationId: 'cmd-9', actor: 'grid-operator' } },
      ],
    });

    const meter1 = await store.readStream('meter-1');
    expect(meter1.map((e) => [e.streamVersion, e.payload.n])).toEqual([
      [1, 1],
      [2, 2],
      [3, 4],
    ]);
    expect(meter1[2]!.metadata).toEqual({
      correlationId: 'c-1',
      causationId: 'cmd-9',
      actor: 'grid-operator',
    });
    expect(meter1[0]!.occurredAt.toISOString()).toBe('2026-11-26T12:00:00.000Z');

    const all = await store.readAll(0n);
    expect(all.map((e) => e.position)).toEqual([1n, 2n, 3n, 4n]);
    expect(all.map((e) => e.payload.n)).toEqual([1, 2, 3, 4]);
    expect((await store.readAll(2n)).map((e) => e.position)).toEqual([3n, 4n]);
    expect(await store.streamVersion('meter-1')).toBe(3);
    expect(await store.streamVersion('nobody')).toBe(0);
  });

  it('given a stale expected version, when appending, should throw ConcurrencyError and store nothing', async () => {
    await store.append({ streamId: 's', expectedVersion: 0, events: [event(1)] });

    await expect(
      store.append({ streamId: 's', expectedVersion: 0, events: [event(2)] }),
    ).rejects.toMatchObject({
      code: 'EVENT_STORE.CONCURRENCY_CONFLICT',
      expectedVersion: 0,
      actualVersion: 1,
    });
    expect(await store.readAll(0n)).toHaveLength(1);
  });

  it('given 20 concurrent writers racing on one stream, when each appends the next version, should let exactly one win each version with no gap and no duplicate in the global order', async () => {
    const writers = 20;
    const rounds = 10;
    // Each writer has its own store instance (as separate processes would), so the appends meet in
    // Postgres on separate connections. A writer starts from the version it read and, on conflict,
    // takes the actual version and retries: that is how a command handler uses optimistic concurrency.
    const conflicts: ConcurrencyError[] = [];
    const wins: number[] = [];
    await Promise.all(
      Array.from({ length: writers }, async (_, writer) => {
        const store = new EventStore(db.pool);
        let version = await store.streamVersion('contested');
        for (let round = 0; round < rounds;) {
          try {
            const result = await store.append({
              streamId: 'contested',
              expectedVersion: version,
              events: [{ type: 'test.won', schemaVersion: 1, payload: { writer, round } }],
            });
            wins.push(result.version);
            version = result.version;
            round += 1;
          } catch (error) {
            if (!(error instanceof ConcurrencyError)) {
              throw error;
            }
            conflicts.push(error);
            version = error.actualVersion;
          }
        }
      }),
    );

    const stream = await store.readStream('contested');
    expect(stream).toHaveLength(writers * rounds);
    expect(stream.map((e) => e.streamVersion)).toEqual(
      Array.from({ length: writers * rounds }, (_, i) => i + 1),
    );
    expect(new Set(wins).size).toBe(wins.length);
    const all = await store.readAll(0n, 10_000);
    expect(all.map((e) => e.position)).toEqual(
      Array.from({ length: writers * rounds }, (_, i) => BigInt(i + 1)),
    );
    // The race was real: many appends lost it and were told so.
    expect(conflicts.length).toBeGreaterThan(0);
    for (const conflict of conflicts) {
      expect(conflict.actualVersion).toBeGreaterThan(conflict.expectedVersion);
    }
    expect((await store.verify()).ok).toBe(true);
  });

  it('given appends in one batch where one is stale, when appended together, should append the others', async () => {
    await store.append({ streamId: 'a', expectedVersion: 0, events: [event(1)] });
    const outcomes = await store.appendMany([
      { streamId: 'a', expectedVersion: 0, events: [event(2)] },
      { streamId: 'b', expectedVersion: 0, events: [event(3)] },
      { streamId: 'b', expectedVersion: 1, events: [event(4)] },
    ]);
    expect(outcomes[0]).toBeInstanceOf(ConcurrencyError);
    expect(outcomes[1]).toMatchObject({ streamId: 'b', version: 1 });
    expect(outcomes[2]).toMatchObject({ streamId: 'b', version: 2 });
    expect((await store.readAll(0n)).map((e) => e.payload.n)).toEqual([1, 3, 4]);
  });

  it('given a unit of work that writes its own rows, when an append in it is stale, should roll back everything', async () => {
    await db.pool.query('CREATE TABLE side_effects (note text)');
    await store.append({ streamId: 'x', expectedVersion: 0, events: [event(1)] });

    await expect(
      store.transaction(async (uow) => {
        await uow.sql.query("INSERT INTO side_effects VALUES ('should vanish')");
        uow.append({ streamId: 'y', expectedVersion: 0, events: [event(2)] });
        uow.append({ streamId: 'x', expectedVersion: 0, events: [event(3)] });
      }),
    ).rejects.toBeInstanceOf(ConcurrencyError);

    expect((await db.pool.query('SELECT * FROM side_effects')).rowCount).toBe(0);
    expect(await store.readAll(0n)).toHaveLength(1);
  });

  it('given invalid events, when appending, should refuse them with a clear error and store nothing', async () => {
    await expect(
      store.append({ streamId: '', expectedVersion: 0, events: [event(1)] }),
    ).rejects.toMatchObject({
      code: 'EVENT_STORE.BAD_STREAM_ID',
    });
    await expect(
      store.append({ streamId: 's', expectedVersion: -1, events: [event(1)] }),
    ).rejects.toBeInstanceOf(InvalidInputError);
    await expect(
      store.append({
        streamId: 's',
        expectedVersion: 0,
        events: [{ type: 't', schemaVersion: 1, payload: { n: NaN } }],
      }),
    ).rejects.toMatchObject({ code: 'EVENT_STORE.BAD_PAYLOAD' });
    await expect(
      store.append({
        streamId: 's',
        expectedVersion: 0,
        events: [{ type: 't', schemaVersion: 1, payload: { s: 'a\u0000b' } }],
      }),
    ).rejects.toMatchObject({ code: 'EVENT_STORE.BAD_PAYLOAD' });
    expect(await store.readAll(0n)).toHaveLength(0);
  });

  it('given a stream id or type Postgres cannot store, when appended beside other appends, should refuse it alone', async () => {
    // Sent in one tick, so the store writes them in one group-committed statement.
    const [good, badStream, badType] = await Promise.allSettled([
      store.append({ streamId: 'good', expectedVersion: 0, events: [event(1)] }),
      store.append({ streamId: 'bad\u0000', expectedVersion: 0, events: [event(2)] }),
      store.append({
        streamId: 'other',
        expectedVersion: 0,
        events: [{ type: 't\ud800', schemaVersion: 1, payload: {} }],
      }),
    ]);
    expect(good).toMatchObject({ status: 'fulfilled', value: { version: 1 } });
    expect(badStream).toMatchObject({ status: 'rejected', reason: { code: 'EVENT_STORE.BAD_STREAM_ID' } });
    expect(badType).toMatchObject({ status: 'rejected', reason: { code: 'EVENT_STORE.BAD_EVENT_TYPE' } });
    expect(await store.readAll(0n)).toHaveLength(1);
  });

  it('given an outbox job BullMQ or Postgres would refuse, when appended beside other appends, should refuse it alone', async () => {
    // BullMQ's addBulk throws for an integer id or one with ':'; the relay, which always takes the
    // oldest rows first, would then retry that batch forever while every job behind it waits.
    const job = (jobId: string, payload: object = {}) => ({ queue: 'q', name: 'n', jobId, payload });
    const outcomes = await Promise.allSettled([
      store.append({ streamId: 'good', expectedVersion: 0, events: [event(1)], jobs: [job('job-1')] }),
      store.append({ streamId: 'b1', expectedVersion: 0, events: [event(2)], jobs: [job('42')] }),
      store.append({ streamId: 'b2', expectedVersion: 0, events: [event(3)], jobs: [job('meter:7')] }),
      store.append({ streamId: 'b3', expectedVersion: 0, events: [event(4)], jobs: [job('a\u0000')] }),
      store.append({
        streamId: 'b4',
        expectedVersion: 0,
        events: [event(5)],
        jobs: [job('job-2', { n: NaN })],
      }),
    ]);
    expect(outcomes[0]).toMatchObject({ status: 'fulfilled', value: { version: 1 } });
    for (const bad of outcomes.slice(1)) {
      expect(bad).toMatchObject({ status: 'rejected', reason: { code: 'EVENT_STORE.BAD_JOB' } });
    }
    expect(await store.readAll(0n)).toHaveLength(1);
    const { rows } = await db.pool.query<{ job_id: string }>('SELECT job_id FROM outbox');
    expect(rows.map((r) => r.job_id)).toEqual(['job-1']);

    // A queue the relay's registry does not know is as undeliverable.
    const known = new EventStore(db.pool, { queues: ['q'] });
    await expect(
      known.append({
        streamId: 'b5',
        expectedVersion: 0,
        events: [event(6)],
        jobs: [{ ...job('job-3'), queue: 'nope' }],
      }),
    ).rejects.toMatchObject({ code: 'EVENT_STORE.BAD_JOB' });
  });

  it('given listeners, when appends commit, should hear of the events after commit and in position order', async () => {
    const heard: bigint[] = [];
    store.onAppended((events) => heard.push(...events.map((e) => e.position)));
    await Promise.all([
      store.append({ streamId: 'p', expectedVersion: 0, events: [event(1), event(2)] }),
      store.append({ streamId: 'q', expectedVersion: 0, events: [event(3)] }),
    ]);
    expect([...heard].sort()).toEqual([1n, 2n, 3n]);
    const stored = await store.readAll(0n);
    expect(stored).toHaveLength(3);
  });
});

describe('EventStore.verify (tamper evidence)', () => {
  let db: TestDatabase;
  let store: EventStore;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await db.drop();
  });

  beforeEach(async () => {
    // The trigger refuses changes for the application; an attacker with the owner's rights can lift it.
    await db.pool.query('ALTER TABLE events DISABLE TRIGGER events_no_truncate');
    await db.pool.query('TRUNCATE events');
    await db.pool.query('ALTER TABLE events ENABLE TRIGGER events_no_truncate');
    store = new EventStore(db.pool);
    const versions = new Map<string, number>();
    for (let i = 1; i <= 30; i += 1) {
      const streamId = `meter-${i % 4}`;
      const result = await store.append({
        streamId,
        expectedVersion: versions.get(streamId) ?? 0,
        events: [event(i)],
      });
      versions.set(streamId, result.version);
    }
  });

  async function tamper(sql: string): Promise<void> {
    await db.pool.query('ALTER TABLE events DISABLE TRIGGER events_append_only');
    try {
      await db.pool.query(sql);
    } finally {
      await db.pool.query('ALTER TABLE events ENABLE TRIGGER events_append_only');
    }
  }

  it('given an untouched journal, when verified, should pass', async () => {
    await expect(store.verify({ batchSize: 7 })).resolves.toMatchObject({
      ok: true,
      checked: 30,
      headPosition: 30n,
    });
  });

  it('given the application role, when it updates or deletes an event, should be refused by the database', async () => {
    await expect(db.pool.query("UPDATE events SET type = 'x' WHERE position = 3")).rejects.toThrow(
      /append-only/,
    );
    await expect(db.pool.query('DELETE FROM events WHERE position = 3')).rejects.toThrow(/append-only/);
    await expect(db.pool.query('TRUNCATE events')).rejects.toThrow(/append-only/);
  });

  it('given a payload edited with plain SQL, when verified, should name its position', async () => {
    await tamper(`UPDATE events SET payload = '{"n": 999}' WHERE position = 17`);
    await expect(store.verify({ batchSize: 7 })).resolves.toMatchObject({
      ok: false,
      firstProblem: { position: 17n, reason: 'content-mismatch' },
    });
  });

  it('given metadata or time edited, when verified, should name its position', async () => {
    await tamper(`UPDATE events SET occurred_at = occurred_at + interval '1 second' WHERE position = 5`);
    await tamper(`UPDATE events SET metadata = '{"actor": "mallory"}' WHERE position = 9`);
    await expect(store.verify()).resolves.toMatchObject({
      firstProblem: { position: 5n, reason: 'content-mismatch' },
    });
  });

  it('given a deleted row, when verified, should name the missing position', async () => {
    await tamper('DELETE FROM events WHERE position = 12');
    const report = await store.verify();
    expect(report).toMatchObject({ ok: false, firstProblem: { position: 12n, reason: 'missing' } });
    expect(report.firstProblem?.message).toMatch(/deleted/);
  });

  it('given an edited row whose content hash was recomputed to match, when verified, should find the broken chain there', async () => {
    const [row] = await store.readAll(19n, 1);
    const forged = contentHash({ ...row!, payload: { n: 12345 } });
    await tamper(
      `UPDATE events SET payload = '{"n": 12345}', content_hash = '\\x${forged.toString('hex')}' WHERE position = 20`,
    );
    await expect(store.verify()).resolves.toMatchObject({
      firstProblem: { position: 20n, reason: 'chain-mismatch' },
    });
  });

  it('given the newest rows deleted, when verified against an anchor recorded elsewhere, should report the truncation', async () => {
    const [anchorRow] = await store.readAll(27n, 1);
    await tamper('DELETE FROM events WHERE position > 25');
    await expect(store.verify()).resolves.toMatchObject({ ok: true, headPosition: 25n });
    await expect(
      store.verify({ anchor: { position: anchorRow!.position, chainHash: anchorRow!.chainHash } }),
    ).resolves.toMatchObject({ ok: false, firstProblem: { position: 26n, reason: 'truncated' } });
  });
});
