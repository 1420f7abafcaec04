import { type DynamicModule, Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';

import { type AppConfig, parseAppConfig } from './app-config';

/** Injection token of the typed, validated AppConfig. */
export const APP_CONFIG = Symbol('AppConfig');

/**
 * @nestjs/config with our zod schema as its validator: a bad environment stops the process during
 * module initialisation with a ConfigError (one line, every bad variable named). `overrides` let
 * tests and the devnet run several configurations in one process.
 */
@Module({})
export class AppConfigModule {
  static forRoot(overrides: Record<string, string | undefined> = {}): DynamicModule {
    return {
      module: AppConfigModule,
      global: true,
      imports: [
        ConfigModule.forRoot({
          envFilePath: '.env',
          cache: true,
          validate: (raw) => ({ app: parseAppConfig({ ...(raw as Record<string, string>), ...overrides }) }),
        }),
      ],
      providers: [
        {
          provide: APP_CONFIG,
          inject: [ConfigService],
          useFactory: (config: ConfigService): AppConfig => config.getOrThrow<AppConfig>('app'),
        },
      ],
      exports: [APP_CONFIG],
    };
  }
}
