import { Injectable } from '@nestjs/common';
import type { PoolClient } from 'pg';

import { type Projection, ProjectionRunner } from '@app/event-store';
import type { StoredEvent } from '@app/kernel';

/** Events per type in the journal, for operators (console, metrics). */
@Injectable()
export class JournalStatsProjection implements Projection {
  readonly name = 'journal-stats';
  readonly tables = ['journal_type_stats'];

  constructor(runner: ProjectionRunner) {
    runner.register(this);
  }

  async apply(events: readonly StoredEvent[], tx: PoolClient): Promise<void> {
    const byType = new Map<string, { events: number; last: StoredEvent }>();
    for (const event of events) {
      const entry = byType.get(event.type);
      byType.set(event.type, { events: (entry?.events ?? 0) + 1, last: event });
    }
    const types = [...byType.keys()];
    await tx.query(
      `INSERT INTO journal_type_stats (type, events, last_position, last_occurred_at)
       SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::timestamptz[])
       ON CONFLICT (type) DO UPDATE SET events = journal_type_stats.events + EXCLUDED.events,
         last_position = EXCLUDED.last_position, last_occurred_at = EXCLUDED.last_occurred_at`,
      [
        types,
        types.map((t) => byType.get(t)!.events),
        types.map((t) => byType.get(t)!.last.position.toString()),
        types.map((t) => byType.get(t)!.last.occurredAt.toISOString()),
      ],
    );
  }
}
