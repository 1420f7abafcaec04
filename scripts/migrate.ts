// `npm run db:migrate`: creates the database if needed and applies prisma/migrations to it.
//   --rolled-back <name>   marks a failed migration as rolled back (prisma migrate resolve --rolled-back)
import { ensureDatabase, markRolledBack, migrate, MigrationError, migrationsDir } from '@app/persistence';

async function main(): Promise<void> {
  const url = process.env.DATABASE_URL;
  if (!url) {
    throw new MigrationError('DATABASE_URL is not set (for example postgresql://127.0.0.1:5432/cbsg)');
  }
  const rolledBack = process.argv.indexOf('--rolled-back');
  if (rolledBack >= 0) {
    const name = process.argv[rolledBack + 1];
    if (!name) {
      throw new MigrationError('--rolled-back needs the migration name');
    }
    await markRolledBack(url, name);
    console.log(`marked ${name} as rolled back`);
    return;
  }
  if (await ensureDatabase(url)) {
    console.log(`created database ${new URL(url).pathname.slice(1)}`);
  }
  const result = await migrate(url, migrationsDir());
  for (const name of result.applied) {
    console.log(`applied ${name}`);
  }
  console.log(
    `database is up to date (${result.applied.length} applied now, ${result.alreadyApplied.length} before)`,
  );
}

main().catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  console.error(`db:migrate: ${message}`);
  process.exit(1);
});
