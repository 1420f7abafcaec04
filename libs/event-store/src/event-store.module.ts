import {
  type DynamicModule,
  Global,
  Inject,
  Injectable,
  Logger,
  Module,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { CqrsModule, EventBus } from '@nestjs/cqrs';
import type { Pool } from 'pg';

import { APP_CONFIG, type AppConfig } from '@app/config';
import { CLOCK, type Clock, systemClock } from '@app/kernel';
import { PG_POOL } from '@app/persistence';
import { ALL_QUEUES, QueueRegistry } from '@app/queue';

import { toJournalEvent } from './domain-events';
import { EventStore } from './event-store';
import { JournalNotifications } from './notifications';
import { OutboxRelay } from './outbox-relay';
import { ProcessedJobs } from './processed-jobs';
import { ProjectionRunner } from './projection-runner';

export interface EventStoreModuleOptions {
  /** Run the outbox relay and the projections in this process (true for every server process). */
  background?: boolean;
}

const OPTIONS = Symbol('EventStoreModuleOptions');

/**
 * Connects the journal to the rest of the process once every module is initialised: committed
 * appends are published on the CQRS EventBus (only after their commit: the store calls its listeners
 * then), and notifications wake the outbox relay and the projections.
 */
@Injectable()
class JournalLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Journal');
  private unsubscribe: Array<() => void> = [];

  constructor(
    @Inject(OPTIONS) private readonly options: EventStoreModuleOptions,
    private readonly store: EventStore,
    private readonly eventBus: EventBus,
    private readonly notifications: JournalNotifications,
    private readonly relay: OutboxRelay,
    private readonly projections: ProjectionRunner,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.unsubscribe.push(
      this.store.onAppended((records) => {
        const events = records.map(toJournalEvent).filter((e) => e !== undefined);
        if (events.length > 0) {
          this.eventBus.publishAll(events);
        }
      }),
    );
    if (this.options.background === false) {
      return;
    }
    this.unsubscribe.push(
      this.notifications.on('cbsg_outbox', () => this.relay.wake()),
      this.notifications.on('cbsg_events', () => this.projections.wake()),
    );
    await this.notifications.start();
    this.relay.start();
    this.projections.start();
    this.logger.log(`outbox relay and ${this.projections.names().length} projection(s) running`);
  }

  async onApplicationShutdown(): Promise<void> {
    for (const off of this.unsubscribe) {
      off();
    }
    await Promise.all([this.relay.stop(), this.projections.stop()]);
    await this.notifications.stop();
  }
}

@Global()
@Module({})
export class EventStoreModule {
  static forRoot(options: EventStoreModuleOptions = {}): DynamicModule {
    return {
      module: EventStoreModule,
      imports: [CqrsModule.forRoot()],
      providers: [
        { provide: OPTIONS, useValue: options },
        { provide: CLOCK, useValue: systemClock },
        QueueRegistry,
        {
          provide: EventStore,
          inject: [PG_POOL, CLOCK],
          useFactory: (pool: Pool, clock: Clock) => new EventStore(pool, { clock, queues: ALL_QUEUES }),
        },
        {
          provide: JournalNotifications,
          inject: [APP_CONFIG],
          useFactory: (config: AppConfig) => new JournalNotifications(config.database.url),
        },
        {
          provide: OutboxRelay,
          inject: [PG_POOL, QueueRegistry, APP_CONFIG],
          useFactory: (pool: Pool, queues: QueueRegistry, config: AppConfig) =>
            new OutboxRelay(pool, queues, { pollMs: config.outbox.pollMs }),
        },
        {
          provide: ProjectionRunner,
          inject: [PG_POOL, EventStore, APP_CONFIG],
          useFactory: (pool: Pool, store: EventStore, config: AppConfig) =>
            new ProjectionRunner(pool, store, {
              pollMs: config.projections.pollMs,
              minWakeIntervalMs: config.projections.minWakeIntervalMs,
            }),
        },
        { provide: ProcessedJobs, inject: [PG_POOL], useFactory: (pool: Pool) => new ProcessedJobs(pool) },
        JournalLifecycle,
      ],
      exports: [CqrsModule, CLOCK, QueueRegistry, EventStore, OutboxRelay, ProjectionRunner, ProcessedJobs],
    };
  }
}
