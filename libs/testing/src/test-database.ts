import { randomBytes } from 'node:crypto';

import { Client, Pool } from 'pg';

import { adminUrl, databaseUrl, fileDatabaseName, templateName } from './test-database-names';

export interface TestDatabase {
  name: string;
  url: string;
  /** A pool on the database, closed by drop(). */
  pool: Pool;
  drop(): Promise<void>;
}

/**
 * A fresh, migrated database for one test file, cloned from the run's template (test/global-setup.ts).
 * Call drop() in afterAll.
 */
export async function createTestDatabase(options: { poolSize?: number } = {}): Promise<TestDatabase> {
  const runId = process.env.CBSG_TEST_RUN_ID;
  if (!runId) {
    throw new Error('CBSG_TEST_RUN_ID is not set: run integration tests through jest (test/global-setup.ts)');
  }
  const name = fileDatabaseName(runId, randomBytes(4).toString('hex'));
  await withAdmin((admin) => admin.query(`CREATE DATABASE "${name}" TEMPLATE "${templateName(runId)}"`));
  const url = databaseUrl(name);
  const pool = new Pool({ connectionString: url, max: options.poolSize ?? 10 });
  pool.on('error', () => undefined); // a test that restarts Postgres expects idle clients to die
  return {
    name,
    url,
    pool,
    drop: async () => {
      await pool.end();
      await withAdmin((admin) => admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
    },
  };
}

async function withAdmin<T>(work: (admin: Client) => Promise<T>): Promise<T> {
  const admin = new Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    return await work(admin);
  } finally {
    await admin.end();
  }
}
