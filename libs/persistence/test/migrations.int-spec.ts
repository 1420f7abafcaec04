import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { PrismaPg } from '@prisma/adapter-pg';

import { createTestDatabase, type TestDatabase } from '@app/testing';

import {
  checkSchemaDrift,
  ensureDatabase,
  migrate,
  migrationsDir,
  pendingMigrations,
  PrismaClient,
  readMigrations,
  repoRoot,
} from '../src';

const schemaPath = path.join(repoRoot(), 'prisma', 'schema.prisma');

describe('migrations and schema.prisma', () => {
  let db: TestDatabase;

  beforeEach(async () => {
    db = await createTestDatabase();
  });

  afterEach(async () => {
    await db.drop();
  });

  it('given the migrated test database, when compared with schema.prisma, should find no drift, and Prisma should query every model', async () => {
    expect(await checkSchemaDrift(db.pool, schemaPath)).toEqual([]);
    const prisma = new PrismaClient({ adapter: new PrismaPg(db.pool) });
    await expect(
      Promise.all([
        prisma.event.findFirst(),
        prisma.outboxMessage.findFirst(),
        prisma.projectionCheckpoint.findFirst(),
        prisma.processedJob.findFirst(),
        prisma.journalTypeStat.findFirst(),
      ]),
    ).resolves.toHaveLength(5);
  });

  it('given a column changed by hand, when compared, should name it', async () => {
    await db.pool.query('ALTER TABLE outbox ALTER COLUMN last_error SET NOT NULL');
    await db.pool.query('ALTER TABLE journal_type_stats ADD COLUMN extra int');
    await db.pool.query('DROP INDEX outbox_job_id_key');
    expect(await checkSchemaDrift(db.pool, schemaPath)).toEqual([
      'model OutboxMessage: "outbox.last_error" is NOT NULL, the schema says optional',
      'model OutboxMessage: no unique index on (job_id)',
      'model JournalTypeStat: column "journal_type_stats.extra" is not in the schema',
    ]);
  });

  it('given a column retyped by hand to one Prisma would not create for its field, when compared, should name it', async () => {
    // Both convert silently: times lose their zone, balances their precision.
    await db.pool.query('ALTER TABLE events ALTER COLUMN occurred_at TYPE timestamp(3)');
    await db.pool.query('ALTER TABLE operator_accounts ALTER COLUMN prepaid_balance TYPE real');
    expect(await checkSchemaDrift(db.pool, schemaPath)).toEqual([
      'model Event: "events.occurred_at" is timestamp, the schema says DateTime @db.Timestamptz (timestamptz)',
      'model OperatorAccount: "operator_accounts.prepaid_balance" is float4, the schema says Float (float8)',
    ]);
  });

  it("given a migrated database, when migrated again, should apply nothing and keep Prisma's history table", async () => {
    const again = await migrate(db.url, migrationsDir());
    expect(again.applied).toEqual([]);
    expect(again.alreadyApplied).toEqual((await readMigrations(migrationsDir())).map((m) => m.name));
    expect(await pendingMigrations(db.pool, migrationsDir())).toEqual([]);
    const { rows } = await db.pool.query<{ checksum: string; applied_steps_count: number }>(
      'SELECT checksum, applied_steps_count FROM "_prisma_migrations" ORDER BY started_at LIMIT 1',
    );
    expect(rows[0]).toMatchObject({
      checksum: expect.stringMatching(/^[0-9a-f]{64}$/),
      applied_steps_count: 1,
    });
  });

  it('given checksums Prisma accepts (migration files with CRLF line endings, unpadded hex of older Prisma versions), when migrated again, should accept them too, and still refuse an edited file', async () => {
    const migrations = await readMigrations(migrationsDir());
    const crlf = await mkdtemp(path.join(tmpdir(), 'cbsg-migrations-crlf-'));
    try {
      await cp(migrationsDir(), crlf, { recursive: true });
      for (const m of migrations) {
        await writeFile(path.join(crlf, m.name, 'migration.sql'), m.sql.replace(/\n/g, '\r\n'));
      }
      expect((await migrate(db.url, crlf)).applied).toEqual([]);

      const edited = path.join(crlf, migrations[0]!.name, 'migration.sql');
      await writeFile(edited, `${await readFile(edited, 'utf8')}\r\n-- edited\r\n`);
      await expect(migrate(db.url, crlf)).rejects.toThrow(/was changed after it was applied/);
    } finally {
      await rm(crlf, { recursive: true, force: true });
    }

    // Prisma before prisma-engines#1887 wrote each byte as {:x}, without its leading zero.
    for (const m of migrations) {
      const digest = createHash('sha256').update(m.sql).digest();
      const unpadded = [...digest].map((b) => b.toString(16)).join('');
      await db.pool.query('UPDATE "_prisma_migrations" SET checksum = $2 WHERE migration_name = $1', [
        m.name,
        unpadded,
      ]);
    }
    const { rows } = await db.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM "_prisma_migrations" WHERE length(checksum) < 64',
    );
    expect(rows[0]!.n).toBeGreaterThan(0);
    expect((await migrate(db.url, migrationsDir())).applied).toEqual([]);
  });

  it('given runners started at once on an empty database, when they migrate, should apply each migration once and all succeed', async () => {
    await db.pool.query('DROP SCHEMA public CASCADE');
    await db.pool.query('CREATE SCHEMA public');
    const names = (await readMigrations(migrationsDir())).map((m) => m.name);
    const results = await Promise.allSettled(
      Array.from({ length: 4 }, () => migrate(db.url, migrationsDir())),
    );
    expect(results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []))).toEqual([]);
    const applied = results.flatMap((r) => (r.status === 'fulfilled' ? r.value.applied : []));
    expect(applied.sort()).toEqual(names);
    const { rows } = await db.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM "_prisma_migrations"',
    );
    expect(rows[0]!.n).toBe(names.length);
  });

  it('given runners started at once on a server without the database, when they create it, should all succeed and one create it', async () => {
    const url = new URL(db.url);
    url.pathname = `/${db.name}_new`;
    try {
      const results = await Promise.allSettled(
        Array.from({ length: 4 }, () => ensureDatabase(url.toString())),
      );
      expect(results.flatMap((r) => (r.status === 'rejected' ? [String(r.reason)] : []))).toEqual([]);
      expect(results.filter((r) => r.status === 'fulfilled' && r.value)).toHaveLength(1);
    } finally {
      await db.pool.query(`DROP DATABASE IF EXISTS "${db.name}_new" WITH (FORCE)`);
    }
  });
});
