import { Injectable } from '@nestjs/common';
import { Command, CommandBus, CommandHandler, EventsHandler, type ICommandHandler } from '@nestjs/cqrs';
import { Test, type TestingModule } from '@nestjs/testing';
import { Pool } from 'pg';

import { AppConfigModule } from '@app/config';
import { DatabaseModule } from '@app/persistence';
import { RedisModule } from '@app/queue';
import { createTestDatabase, type TestDatabase } from '@app/testing';

import { DomainEvent, EventStore, EventStoreModule, JournalEvent, ResilientEventHandler } from '../src';

interface ThresholdPayload {
  meter: string;
  kwh: number;
}

@DomainEvent('test.threshold-exceeded', 1)
class ThresholdExceededEvent extends JournalEvent<ThresholdPayload> {}

class RecordExcessCommand extends Command<{ version: number }> {
  constructor(
    readonly meter: string,
    readonly kwh: number,
  ) {
    super();
  }
}

@CommandHandler(RecordExcessCommand)
class RecordExcessHandler implements ICommandHandler<RecordExcessCommand> {
  constructor(private readonly store: EventStore) {}

  async execute(command: RecordExcessCommand): Promise<{ version: number }> {
    const streamId = `meter-${command.meter}`;
    const result = await this.store.append({
      streamId,
      expectedVersion: await this.store.streamVersion(streamId),
      events: [ThresholdExceededEvent.create({ meter: command.meter, kwh: command.kwh }, { actor: 'test' })],
    });
    return { version: result.version };
  }
}

/** Records what it saw, and fails on demand: how often, and for which meter. */
@Injectable()
class Observations {
  readonly handled: Array<{ meter: string; visibleInDatabase: boolean; attempt: number }> = [];
  readonly attempts = new Map<string, number>();
  failuresLeft = new Map<string, number>();
  pool!: Pool;
}

@EventsHandler(ThresholdExceededEvent)
class PowerSavingHandler extends ResilientEventHandler<ThresholdExceededEvent> {
  protected override readonly firstRetryMs = 10;
  protected override readonly retries = 3;
  constructor(private readonly observations: Observations) {
    super();
  }

  protected async process(event: ThresholdExceededEvent): Promise<void> {
    const meter = event.payload.meter;
    const attempt = (this.observations.attempts.get(meter) ?? 0) + 1;
    this.observations.attempts.set(meter, attempt);
    // Seen from another connection: the event must already be committed when we hear of it.
    const { rowCount } = await this.observations.pool.query('SELECT 1 FROM events WHERE position = $1', [
      event.record.position.toString(),
    ]);
    const left = this.observations.failuresLeft.get(meter) ?? 0;
    if (left > 0) {
      this.observations.failuresLeft.set(meter, left - 1);
      throw new Error(`transient failure for ${meter}`);
    }
    this.observations.handled.push({ meter, visibleInDatabase: rowCount === 1, attempt });
  }
}

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) {
      throw new Error('condition not met in time');
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('CQRS wiring', () => {
  let db: TestDatabase;
  let moduleRef: TestingModule;
  let observations: Observations;

  beforeAll(async () => {
    db = await createTestDatabase();
    moduleRef = await Test.createTestingModule({
      imports: [
        AppConfigModule.forRoot({
          DATABASE_URL: db.url,
          REDIS_URL: 'redis://127.0.0.1:6379',
          QUEUE_PREFIX: `cqrs-${process.pid}`,
        }),
        DatabaseModule,
        RedisModule,
        EventStoreModule.forRoot({ background: false }),
      ],
      providers: [RecordExcessHandler, PowerSavingHandler, Observations],
    }).compile();
    await moduleRef.init();
    observations = moduleRef.get(Observations);
    observations.pool = db.pool;
  });

  afterAll(async () => {
    await moduleRef.close();
    await db.drop();
  });

  it('given a command, when handled, should append its event and publish it only after the commit', async () => {
    const result = await moduleRef.get(CommandBus).execute(new RecordExcessCommand('m-1', 12.5));
    expect(result).toEqual({ version: 1 });
    await until(() => observations.handled.some((h) => h.meter === 'm-1'));
    expect(observations.handled.find((h) => h.meter === 'm-1')).toEqual({
      meter: 'm-1',
      visibleInDatabase: true,
      attempt: 1,
    });
    const [stored] = await moduleRef.get(EventStore).readStream('meter-m-1');
    expect(stored).toMatchObject({
      type: 'test.threshold-exceeded',
      payload: { meter: 'm-1', kwh: 12.5 },
      metadata: { actor: 'test' },
    });
  });

  it('given an event handler that fails twice, when the event is published, should log, retry and succeed, and keep handling later events', async () => {
    observations.failuresLeft.set('m-2', 2);
    const bus = moduleRef.get(CommandBus);
    await bus.execute(new RecordExcessCommand('m-2', 20));
    await until(() => observations.handled.some((h) => h.meter === 'm-2'));
    expect(observations.handled.find((h) => h.meter === 'm-2')).toMatchObject({
      attempt: 3,
      visibleInDatabase: true,
    });

    // A handler that gives up on one event is still subscribed for the next.
    observations.failuresLeft.set('m-3', 100);
    await bus.execute(new RecordExcessCommand('m-3', 1));
    await bus.execute(new RecordExcessCommand('m-4', 2));
    await until(() => observations.handled.some((h) => h.meter === 'm-4'));
    await until(() => observations.attempts.get('m-3') === 4); // the first try and 3 retries
    expect(observations.handled.some((h) => h.meter === 'm-3')).toBe(false);
  });
});
