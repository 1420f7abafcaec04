import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

import { Client } from 'pg';

/**
 * Applies prisma/migrations to a database the way `prisma migrate deploy` does, without Prisma's
 * native schema engine (which cannot be downloaded here; see NOTES.md). It keeps `_prisma_migrations`
 * exactly as Prisma does (same columns, SHA-256 checksum of migration.sql, Prisma's advisory lock),
 * so that Prisma's own `migrate deploy` accepts the same history wherever its engine exists.
 */

/** The advisory lock key Prisma's migrate takes (72707369 = "prisma" in its own scheme). */
const PRISMA_MIGRATE_LOCK = 72707369;

const HISTORY_TABLE = `
CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id"                    VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum"              VARCHAR(64) NOT NULL,
    "finished_at"           TIMESTAMPTZ,
    "migration_name"        VARCHAR(255) NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        TIMESTAMPTZ,
    "started_at"            TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count"   INTEGER NOT NULL DEFAULT 0
)`;

export interface MigrationFile {
  name: string;
  sql: string;
  checksum: string;
}

export interface MigrateResult {
  applied: string[];
  alreadyApplied: string[];
}

export class MigrationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MigrationError';
  }
}

interface HistoryRow {
  id: string;
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
}

export async function readMigrations(migrationsDir: string): Promise<MigrationFile[]> {
  const entries = await readdir(migrationsDir, { withFileTypes: true });
  const names = entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  return Promise.all(
    names.map(async (name) => {
      const sql = await readFile(path.join(migrationsDir, name, 'migration.sql'), 'utf8');
      return { name, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    }),
  );
}

/**
 * Whether migration.sql still matches the checksum recorded when it was applied, as Prisma decides
 * (schema-connector checksum.rs): with either line ending, since git may convert them on checkout,
 * and in the unpadded hex older Prisma versions recorded (prisma-engines#1887).
 */
function matchesChecksum(sql: string, recorded: string): boolean {
  return [sql, sql.replace(/\r\n/g, '\n'), sql.replace(/\n/g, '\r\n')].some((text) => {
    const digest = createHash('sha256').update(text).digest();
    const hex =
      recorded.length > 0 && recorded.length !== 64
        ? [...digest].map((b) => b.toString(16)).join('')
        : digest.toString('hex');
    return hex === recorded;
  });
}

export async function migrate(databaseUrl: string, migrationsDir: string): Promise<MigrateResult> {
  const migrations = await readMigrations(migrationsDir);
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [PRISMA_MIGRATE_LOCK]);
    try {
      // Under the lock: two runners creating the table at once collide in pg_type, and one fails.
      await client.query(HISTORY_TABLE);
      return await applyPending(client, migrations);
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [PRISMA_MIGRATE_LOCK]);
    }
  } finally {
    await client.end();
  }
}

async function applyPending(client: Client, migrations: MigrationFile[]): Promise<MigrateResult> {
  const { rows } = await client.query<HistoryRow>(
    'SELECT id, migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations" ORDER BY started_at',
  );
  const live = rows.filter((r) => r.rolled_back_at === null);
  const failed = live.find((r) => r.finished_at === null);
  if (failed) {
    throw new MigrationError(
      `migration ${failed.migration_name} failed earlier and blocks the others: fix the database, then ` +
        `mark it with \`npm run db:migrate -- --rolled-back ${failed.migration_name}\``,
    );
  }
  const known = new Set(migrations.map((m) => m.name));
  const unknown = live.find((r) => !known.has(r.migration_name));
  if (unknown) {
    throw new MigrationError(
      `the database has migration ${unknown.migration_name}, which is not in prisma/migrations`,
    );
  }
  const result: MigrateResult = { applied: [], alreadyApplied: [] };
  for (const migration of migrations) {
    const done = live.find((r) => r.migration_name === migration.name);
    if (done) {
      if (!matchesChecksum(migration.sql, done.checksum)) {
        throw new MigrationError(`migration ${migration.name} was changed after it was applied`);
      }
      result.alreadyApplied.push(migration.name);
      continue;
    }
    const id = randomUUID();
    await client.query(
      'INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, applied_steps_count) VALUES ($1, $2, $3, now(), 0)',
      [id, migration.checksum, migration.name],
    );
    try {
      // One multi-statement query: Postgres runs it as one implicit transaction, as Prisma does.
      await client.query(migration.sql);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      await client.query('UPDATE "_prisma_migrations" SET logs = $2 WHERE id = $1', [id, message]);
      throw new MigrationError(`migration ${migration.name} failed: ${message}`);
    }
    await client.query(
      'UPDATE "_prisma_migrations" SET finished_at = now(), applied_steps_count = 1 WHERE id = $1',
      [id],
    );
    result.applied.push(migration.name);
  }
  return result;
}

/** The equivalent of `prisma migrate resolve --rolled-back <name>`. */
export async function markRolledBack(databaseUrl: string, migrationName: string): Promise<void> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query(
      'UPDATE "_prisma_migrations" SET rolled_back_at = now() WHERE migration_name = $1 AND finished_at IS NULL AND rolled_back_at IS NULL',
      [migrationName],
    );
    if (rowCount === 0) {
      throw new MigrationError(`no failed migration named ${migrationName}`);
    }
  } finally {
    await client.end();
  }
}

/** Creates the database named in the URL if it does not exist (needs CREATEDB on the server). */
export async function ensureDatabase(databaseUrl: string): Promise<boolean> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.slice(1));
  if (!/^[A-Za-z0-9_-]+$/.test(name)) {
    throw new MigrationError(`refusing to create a database with the name "${name}"`);
  }
  url.pathname = '/postgres';
  const client = new Client({ connectionString: url.toString() });
  await client.connect();
  try {
    // Runners started at once would all find no database, and all but one fail to create it. The
    // lock is released when the session ends.
    await client.query('SELECT pg_advisory_lock($1)', [PRISMA_MIGRATE_LOCK]);
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount) {
      return false;
    }
    await client.query(`CREATE DATABASE "${name}"`);
    return true;
  } finally {
    await client.end();
  }
}

/** Names of migrations in `migrationsDir` that the database has not applied (all of them if none). */
export async function pendingMigrations(
  executor: Pick<Client, 'query'>,
  migrationsDir: string,
): Promise<string[]> {
  const files = await readMigrations(migrationsDir);
  const { rows } = await executor.query<{ name: string | null }>(
    "SELECT to_regclass('_prisma_migrations')::text AS name",
  );
  if (!rows[0]?.name) {
    return files.map((f) => f.name);
  }
  const applied = await executor.query<{ migration_name: string }>(
    'SELECT migration_name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL',
  );
  const done = new Set(applied.rows.map((r) => r.migration_name));
  return files.map((f) => f.name).filter((name) => !done.has(name));
}
