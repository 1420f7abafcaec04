import { Global, Inject, Injectable, Logger, Module, type OnApplicationShutdown } from '@nestjs/common';
import { Redis } from 'ioredis';

import { APP_CONFIG, type AppConfig } from '@app/config';
import { DependencyUnavailableError, describeConnectionError } from '@app/persistence';

/** The process's shared Redis client (health checks, small reads). BullMQ opens its own connections. */
export const REDIS = Symbol('Redis');

/** How BullMQ connects: the same server, with the prefix that separates processes and test runs. */
export const QUEUE_CONNECTION = Symbol('QueueConnection');

/** Where a Redis server is, as both our ioredis client and BullMQ's accept it. */
export interface RedisEndpoint {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db: number;
  tls?: Record<string, never>;
}

export interface QueueConnection {
  options: RedisEndpoint;
  prefix: string;
}

export function redisOptions(url: string): RedisEndpoint {
  const u = new URL(url);
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db: u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0,
    tls: u.protocol === 'rediss:' ? {} : undefined,
  };
}

async function connectRedis(config: AppConfig): Promise<Redis> {
  const logger = new Logger('Redis');
  const client = new Redis({
    ...redisOptions(config.redis.url),
    lazyConnect: true,
    connectTimeout: config.startupTimeoutMs,
    maxRetriesPerRequest: 1,
    // After start-up, keep reconnecting: a Redis restart must not need a node restart.
    retryStrategy: (attempt) => Math.min(attempt * 200, 5_000),
  });
  let ready = false;
  // ioredis reports the cause (ECONNREFUSED...) as an 'error' event and rejects connect() with a
  // generic "Connection is closed": keep the cause for the start-up message.
  let cause: unknown;
  client.on('error', (error: Error) => {
    if (ready) {
      logger.warn(`Redis connection problem: ${error.message}`);
    } else {
      cause ??= error;
    }
  });
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    client.disconnect();
    throw new DependencyUnavailableError(describeConnectionError('Redis', config.redis.url, cause ?? error));
  }
  ready = true;
  return client;
}

@Injectable()
class RedisLifecycle implements OnApplicationShutdown {
  constructor(@Inject(REDIS) private readonly redis: Redis) {}

  async onApplicationShutdown(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

@Global()
@Module({
  providers: [
    { provide: REDIS, inject: [APP_CONFIG], useFactory: connectRedis },
    {
      provide: QUEUE_CONNECTION,
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig): QueueConnection => ({
        options: redisOptions(config.redis.url),
        prefix: config.redis.queuePrefix,
      }),
    },
    RedisLifecycle,
  ],
  exports: [REDIS, QUEUE_CONNECTION],
})
export class RedisModule {}
