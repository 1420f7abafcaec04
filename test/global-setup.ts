// Runs once per jest run for the integration and e2e tiers: migrates a template database from empty
// that every test file then clones (CREATE DATABASE ... TEMPLATE, about 100 ms), so that each file has
// its own database and a migration problem shows up once, clearly.
import { Client } from 'pg';

import { migrate } from '../libs/persistence/src/migrator';
import { migrationsDir } from '../libs/persistence/src/repo-root';
import {
  adminUrl,
  dropStaleTestDatabases,
  templateName,
  testServerUrl,
} from '../libs/testing/src/test-database-names';

export default async function globalSetup(): Promise<void> {
  const runId = process.env.CBSG_TEST_RUN_ID ?? `${process.pid}`;
  process.env.CBSG_TEST_RUN_ID = runId;
  const template = templateName(runId);
  const admin = new Client({ connectionString: adminUrl() });
  try {
    await admin.connect();
  } catch (error) {
    throw new Error(
      `integration tests need PostgreSQL at ${testServerUrl()}: ${(error as Error).message}. Start it (see README, "Services").`,
      { cause: error },
    );
  }
  try {
    await dropStaleTestDatabases(admin);
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [template]);
    if (exists.rowCount) {
      return; // another project of this same jest run made it already
    }
    await admin.query(`CREATE DATABASE "${template}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(testServerUrl());
  url.pathname = `/${template}`;
  await migrate(url.toString(), migrationsDir());
}
