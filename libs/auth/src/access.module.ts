import { type DynamicModule, type InjectionToken, Module, type ModuleMetadata } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ThrottlerModule } from '@nestjs/throttler';

import { AccessGuard, CREDENTIAL_REFUSALS, PRINCIPAL_RESOLVER, SERVICE_OWNER } from './access.guard';
import { ClientThrottlerGuard } from './client-throttler.guard';
import { RefusalCounter } from './domain/refusal-counter';
import type { PrincipalResolver } from './principal-resolver';

export interface AccessSettings {
  resolver: PrincipalResolver;
  /** The organisation that runs this service (audience 'self'); null where there is none. */
  owner: string | null;
  /** Requests per second one client may make (averaged over 10 s). */
  requestsPerSecond: number;
}

export interface AccessModuleOptions {
  imports?: ModuleMetadata['imports'];
  inject?: InjectionToken[];
  useFactory: (...deps: never[]) => AccessSettings | Promise<AccessSettings>;
}

const ACCESS_SETTINGS = Symbol('AccessSettings');
/** The throttler's window: a client's requests per second are averaged over it. */
const RATE_WINDOW_MS = 10_000;

/** Holds the settings once, for the throttler and the guards alike. */
@Module({})
class AccessSettingsModule {}

/** Authentication, authorisation and per-client rate limits for every endpoint of an application. */
@Module({})
export class AccessModule {
  static forRoot(options: AccessModuleOptions): DynamicModule {
    const settings: DynamicModule = {
      module: AccessSettingsModule,
      imports: options.imports ?? [],
      providers: [{ provide: ACCESS_SETTINGS, inject: options.inject ?? [], useFactory: options.useFactory }],
      exports: [ACCESS_SETTINGS],
    };
    return {
      module: AccessModule,
      // Other transports (GraphQL subscriptions) prove who connects with the same resolver.
      global: true,
      imports: [
        settings,
        ThrottlerModule.forRootAsync({
          imports: [settings],
          inject: [ACCESS_SETTINGS],
          useFactory: (s: AccessSettings) => ({
            // Unnamed, so it is the 'default' throttler: `@SkipThrottle()` without arguments skips that
            // one only, and a throttler of another name went on counting intake and peer traffic.
            throttlers: [{ ttl: RATE_WINDOW_MS, limit: (s.requestsPerSecond * RATE_WINDOW_MS) / 1000 }],
          }),
        }),
      ],
      providers: [
        {
          provide: PRINCIPAL_RESOLVER,
          inject: [ACCESS_SETTINGS],
          useFactory: (s: AccessSettings) => s.resolver,
        },
        { provide: SERVICE_OWNER, inject: [ACCESS_SETTINGS], useFactory: (s: AccessSettings) => s.owner },
        {
          // As many refused credentials per address as the throttler allows requests.
          provide: CREDENTIAL_REFUSALS,
          inject: [ACCESS_SETTINGS],
          useFactory: (s: AccessSettings) =>
            new RefusalCounter((s.requestsPerSecond * RATE_WINDOW_MS) / 1000, RATE_WINDOW_MS),
        },
        // Order matters: the throttler counts the principal the access guard has proven.
        { provide: APP_GUARD, useClass: AccessGuard },
        { provide: APP_GUARD, useClass: ClientThrottlerGuard },
      ],
      exports: [PRINCIPAL_RESOLVER],
    };
  }
}
