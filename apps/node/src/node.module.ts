import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { TerminusModule } from '@nestjs/terminus';
import { LoggerModule } from 'nestjs-pino';

import { AccessModule, PrincipalResolver } from '@app/auth';
import { APP_CONFIG, type AppConfig, AppConfigModule } from '@app/config';
import { ChainModule } from '@app/chain';
import { EventStoreModule } from '@app/event-store';
import { IntakeModule } from '@app/intake';
import { MetricsModule } from '@app/metrics';
import { DatabaseModule, PG_POOL } from '@app/persistence';
import { RedisModule } from '@app/queue';
import { GenesisService, RegistryModule } from '@app/registry';
import type { Pool } from 'pg';

import { ChainController } from './chain/chain.controller';
import { P2pController } from './chain/p2p.controller';
import { ConsoleModule } from './console/console.module';
import { HealthController } from './health/health.controller';
import { NodeGraphqlModule } from './graphql/graphql.module';
import { DomainErrorFilter } from './http/domain-error.filter';
import { requestLogLevel } from './http/request-log-level';
import { JournalStatsProjection } from './journal/journal-stats.projection';
import { RegistryController } from './registry/registry.controller';
import { ReportsController } from './reports/reports.controller';

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
              customLogLevel: requestLogLevel,
            },
          }),
        }),
        DatabaseModule,
        RedisModule,
        EventStoreModule.forRoot({ background: options.background ?? true }),
        TerminusModule,
        MetricsModule,
        RegistryModule,
        IntakeModule,
        ChainModule,
        AccessModule.forRoot({
          imports: [RegistryModule],
          inject: [GenesisService, PG_POOL, APP_CONFIG],
          useFactory: (genesis: GenesisService, pool: Pool, config: AppConfig) => ({
            resolver: new PrincipalResolver(() => genesis.current().document, pool),
            owner: null,
            requestsPerSecond: config.http.rateLimitPerSecond,
          }),
        }),
        NodeGraphqlModule,
        ConsoleModule,
      ],
      controllers: [HealthController, RegistryController, ReportsController, ChainController, P2pController],
      providers: [JournalStatsProjection, { provide: APP_FILTER, useClass: DomainErrorFilter }],
    };
  }
}
