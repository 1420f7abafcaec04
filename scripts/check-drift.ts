// npm run db:drift: fails when prisma/schema.prisma and the migrated database (DATABASE_URL) disagree.
import path from 'node:path';

import { Pool } from 'pg';

import { checkSchemaDrift, repoRoot } from '@app/persistence';

async function main(): Promise<void> {
  const url = process.env.DATABASE_URL;
  if (!url) {
    throw new Error('DATABASE_URL is not set');
  }
  const pool = new Pool({ connectionString: url, max: 1 });
  try {
    const problems = await checkSchemaDrift(pool, path.join(repoRoot(), 'prisma', 'schema.prisma'));
    if (problems.length > 0) {
      console.error(
        `schema.prisma and the database disagree:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
      );
      process.exit(1);
    }
    console.log('schema.prisma and the migrated database agree');
  } finally {
    await pool.end();
  }
}

main().catch((error: unknown) => {
  console.error(`db:drift: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
