import type { Pool, PoolClient } from 'pg';

import type { StoredEvent } from '@app/kernel';
import { inTransaction } from '@app/persistence';

import { BackgroundLoop, type LoopStatus } from './background-loop';
import type { EventStore } from './event-store';

/**
 * A read model built from the journal. `apply` runs inside the transaction that also moves the
 * projection's checkpoint, so a crash can never apply an event without recording it or the reverse.
 * It must be deterministic and depend only on the events and its own tables: a rebuild from the
 * journal must give the same rows.
 */
export interface Projection {
  readonly name: string;
  /** The tables this projection owns; a rebuild empties them. */
  readonly tables: readonly string[];
  apply(events: readonly StoredEvent[], tx: PoolClient): Promise<void>;
}

export interface ProjectionStatus extends LoopStatus {
  name: string;
  position: bigint;
}

/** Runs projections from their checkpoints, each in its own background loop. */
export class ProjectionRunner {
  private readonly projections = new Map<
    string,
    { projection: Projection; loop: BackgroundLoop; position: bigint }
  >();

  constructor(
    private readonly pool: Pool,
    private readonly store: EventStore,
    private readonly options: { pollMs: number; minWakeIntervalMs?: number; batchSize?: number },
  ) {}

  register(projection: Projection): void {
    if (this.projections.has(projection.name)) {
      throw new Error(`projection ${projection.name} is registered twice`);
    }
    for (const table of projection.tables) {
      if (!/^[a-z_][a-z0-9_]*$/.test(table)) {
        throw new Error(`projection ${projection.name}: "${table}" is not a plain table name`);
      }
    }
    const entry = {
      projection,
      position: 0n,
      loop: new BackgroundLoop(`Projection:${projection.name}`, () => this.step(projection.name), {
        pollMs: this.options.pollMs,
        minWakeIntervalMs: this.options.minWakeIntervalMs,
      }),
    };
    this.projections.set(projection.name, entry);
  }

  names(): string[] {
    return [...this.projections.keys()];
  }

  start(): void {
    for (const entry of this.projections.values()) {
      entry.loop.start();
    }
  }

  async stop(): Promise<void> {
    await Promise.all([...this.projections.values()].map((e) => e.loop.stop()));
  }

  /** New events were appended: every projection looks now. */
  wake(): void {
    for (const entry of this.projections.values()) {
      entry.loop.wake();
    }
  }

  status(): ProjectionStatus[] {
    return [...this.projections.values()].map((e) => ({
      name: e.projection.name,
      position: e.position,
      ...e.loop.status(),
    }));
  }

  /** Applies everything up to the journal's head now (used by tests, rebuilds and the CLI). */
  async catchUp(name: string): Promise<bigint> {
    while (await this.step(name)) {
      // keep going
    }
    return this.get(name).position;
  }

  /**
   * Empties the projection's tables and replays the journal into them. Runs under the checkpoint's
   * row lock, so a running loop of the same projection (in this or another process) waits for it.
   */
  async rebuild(name: string): Promise<bigint> {
    const entry = this.get(name);
    await inTransaction(this.pool, async (tx) => {
      await this.lockCheckpoint(tx, name);
      for (const table of entry.projection.tables) {
        await tx.query(`DELETE FROM "${table}"`);
      }
      await tx.query('UPDATE projection_checkpoints SET position = 0, updated_at = now() WHERE name = $1', [
        name,
      ]);
    });
    entry.position = 0n;
    return this.catchUp(name);
  }

  /** One batch: resolves true when there may be more. */
  private async step(name: string): Promise<boolean> {
    const entry = this.get(name);
    const batchSize = this.options.batchSize ?? 500;
    const { position, more } = await inTransaction(this.pool, async (tx) => {
      const checkpoint = await this.lockCheckpoint(tx, name);
      const events = await this.store.readAll(checkpoint, batchSize, tx);
      if (events.length === 0) {
        return { position: checkpoint, more: false };
      }
      await entry.projection.apply(events, tx);
      const last = events[events.length - 1]!.position;
      await tx.query('UPDATE projection_checkpoints SET position = $2, updated_at = now() WHERE name = $1', [
        name,
        last.toString(),
      ]);
      return { position: last, more: events.length === batchSize };
    });
    // Only a committed checkpoint is reported: status() must never show a position that a failed
    // COMMIT takes back.
    entry.position = position;
    return more;
  }

  private async lockCheckpoint(tx: PoolClient, name: string): Promise<bigint> {
    const select = () =>
      tx.query<{ position: string }>(
        'SELECT position FROM projection_checkpoints WHERE name = $1 FOR UPDATE',
        [name],
      );
    let { rows } = await select();
    if (rows.length === 0) {
      // The first step ever: make the row (another process may race us to it), then lock it.
      await tx.query(
        'INSERT INTO projection_checkpoints (name, position) VALUES ($1, 0) ON CONFLICT DO NOTHING',
        [name],
      );
      ({ rows } = await select());
    }
    return BigInt(rows[0]!.position);
  }

  private get(name: string) {
    const entry = this.projections.get(name);
    if (!entry) {
      throw new Error(`no projection named "${name}" (known: ${this.names().join(', ') || 'none'})`);
    }
    return entry;
  }
}
