import { type DynamicModule, Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { LoggerModule } from 'nestjs-pino';

import { APP_CONFIG, type AppConfig, AppConfigModule } from '@app/config';
import { EventStoreModule } from '@app/event-store';
import { DatabaseModule } from '@app/persistence';
import { RedisModule } from '@app/queue';

import { HealthController } from './health/health.controller';
import { JournalStatsProjection } from './journal/journal-stats.projection';

export interface NodeModuleOptions {
  /** Environment overrides (tests, the devnet). */
  env?: Record<string, string | undefined>;
  /** Run the outbox relay and projections (false for one-shot commands). */
  background?: boolean;
}

/** The accounting node process (DESIGN.md section 1). */
@Module({})
export class NodeModule {
  static forRoot(options: NodeModuleOptions = {}): DynamicModule {
    return {
      module: NodeModule,
      imports: [
        AppConfigModule.forRoot(options.env),
        LoggerModule.forRootAsync({
          inject: [APP_CONFIG],
          useFactory: (config: AppConfig) => ({
            pinoHttp: {
              level: config.log.level,
              transport: config.log.pretty
                ? { target: 'pino-pretty', options: { singleLine: true } }
                : undefined,
              // Credentials never reach the logs.
              redact: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-api-key"]'],
              autoLogging: { ignore: (req) => req.url?.startsWith('/health') ?? false },
            },
          }),
        }),
        DatabaseModule,
        RedisModule,
        EventStoreModule.forRoot({ background: options.background ?? true }),
        TerminusModule,
      ],
      controllers: [HealthController],
      providers: [JournalStatsProjection],
    };
  }
}
