import { Global, Inject, Injectable, Logger, Module, type OnApplicationShutdown } from '@nestjs/common';
import { PrismaPg } from '@prisma/adapter-pg';
import { Pool } from 'pg';

import { APP_CONFIG, type AppConfig } from '@app/config';

import { describeConnectionError, safeLocation } from './connection-errors';
import { pendingMigrations } from './migrator';
import { migrationsDir } from './repo-root';
import { PrismaClient } from './generated/prisma/client';

/** Injection token of the shared pg Pool. Hot paths (event store, intake, sealing) write through it in bulk. */
export const PG_POOL = Symbol('PgPool');

export class DependencyUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DependencyUnavailableError';
  }
}

/** Prisma on the same pool: typed queries for read models and admin paths. */
@Injectable()
export class PrismaService extends PrismaClient {
  constructor(@Inject(PG_POOL) pool: Pool) {
    super({ adapter: new PrismaPg(pool) });
  }
}

@Injectable()
class PoolLifecycle implements OnApplicationShutdown {
  constructor(@Inject(PG_POOL) private readonly pool: Pool) {}

  async onApplicationShutdown(): Promise<void> {
    await this.pool.end();
  }
}

/** The node's pool: checked at start (reachable, migrated), and safe against connections that drop. */
export async function connectPool(config: AppConfig): Promise<Pool> {
  const logger = new Logger('Database');
  const pool = new Pool({
    connectionString: config.database.url,
    max: config.database.poolSize,
    connectionTimeoutMillis: config.startupTimeoutMs,
    application_name: 'cbsg',
  });
  // An idle client that loses its connection (Postgres restarted) must not crash the process: the pool
  // drops it and the next query opens a new one.
  pool.on('error', (error) => logger.warn(`idle database connection lost: ${error.message}`));
  // A client checked out when Postgres goes (inside a transaction, between two queries) emits its
  // error with nobody listening, which would kill the process: its next query fails instead, the
  // transaction rolls back, and the pool replaces it. Found by the soak's Postgres restart.
  pool.on('connect', (client) =>
    client.on('error', (error) => logger.warn(`database connection lost in use: ${error.message}`)),
  );
  try {
    await pool.query('SELECT 1');
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw new DependencyUnavailableError(describeConnectionError('PostgreSQL', config.database.url, error));
  }
  const pending = await pendingMigrations(pool, migrationsDir());
  if (pending.length > 0) {
    await pool.end().catch(() => undefined);
    throw new DependencyUnavailableError(
      `the database at ${safeLocation(config.database.url)} is ${pending.length} migration(s) behind (next: ${pending[0]}): run \`npm run db:migrate\``,
    );
  }
  return pool;
}

@Global()
@Module({
  providers: [
    { provide: PG_POOL, inject: [APP_CONFIG], useFactory: connectPool },
    PrismaService,
    PoolLifecycle,
  ],
  exports: [PG_POOL, PrismaService],
})
export class DatabaseModule {}
