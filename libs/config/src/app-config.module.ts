import { type DynamicModule, Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';

import { type AppConfig, loadAppConfig } from './app-config';

/** Injection token of the typed, validated AppConfig. */
export const APP_CONFIG = Symbol('AppConfig');

/**
 * The environment, validated by our zod schema (app-config.ts) before any module is built: a bad
 * environment throws ConfigError (one line, every bad variable named) synchronously, from forRoot.
 * @nestjs/config then serves the parsed result (ConfigService.get('app')), and APP_CONFIG is the
 * typed shortcut every provider uses. `overrides` let tests and the devnet run several
 * configurations in one process.
 */
@Module({})
export class AppConfigModule {
  static forRoot(overrides: Record<string, string | undefined> = {}): DynamicModule {
    const config = loadAppConfig(overrides);
    return {
      module: AppConfigModule,
      global: true,
      imports: [
        ConfigModule.forRoot({
          ignoreEnvFile: true,
          ignoreEnvVars: true,
          cache: true,
          load: [() => ({ app: config })],
        }),
      ],
      providers: [
        {
          provide: APP_CONFIG,
          inject: [ConfigService],
          useFactory: (service: ConfigService): AppConfig => service.getOrThrow<AppConfig>('app'),
        },
      ],
      exports: [APP_CONFIG],
    };
  }
}
