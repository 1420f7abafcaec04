import type { Client } from 'pg';

import { processAlive } from './processes';

/**
 * Names of the databases tests create. Every name contains "test" and the id of the jest run (its
 * process id), so that concurrent runs on one machine never touch each other's databases, and a run
 * that crashed leaves databases that the next run recognises as stale and drops.
 */
const PREFIX = 'cbsg_test_';

/** The server tests run against; TEST_DATABASE_URL may point elsewhere, but its name must contain "test". */
export function testServerUrl(): string {
  const url = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';
  const name = new URL(url).pathname.slice(1);
  if (!name.includes('test')) {
    throw new Error(`refusing to run tests against database "${name}": its name must contain "test"`);
  }
  return url;
}

/** A connection for CREATE/DROP DATABASE. */
export function adminUrl(): string {
  return testServerUrl();
}

export function templateName(runId: string): string {
  return `${PREFIX}${runId}_template`;
}

export function databaseUrl(name: string): string {
  const url = new URL(testServerUrl());
  url.pathname = `/${name}`;
  return url.toString();
}

export function fileDatabaseName(runId: string, suffix: string): string {
  return `${PREFIX}${runId}_${suffix}`;
}

function runIdOf(name: string): string | undefined {
  return /^cbsg_test_(\d+)_/.exec(name)?.[1];
}

async function dropDatabase(admin: Client, name: string): Promise<void> {
  await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
}

export async function dropStaleTestDatabases(admin: Client): Promise<void> {
  const { rows } = await admin.query<{ datname: string }>(
    "SELECT datname FROM pg_database WHERE datname LIKE 'cbsg\\_test\\_%'",
  );
  for (const { datname } of rows) {
    const runId = runIdOf(datname);
    if (runId && !processAlive(Number(runId))) {
      await dropDatabase(admin, datname);
    }
  }
}

export async function dropRunDatabases(admin: Client, runId: string): Promise<void> {
  const { rows } = await admin.query<{ datname: string }>(
    'SELECT datname FROM pg_database WHERE datname LIKE $1',
    [`${PREFIX}${runId}\\_%`],
  );
  // Clones first: the template cannot be dropped while a clone is being made from it.
  const names = rows
    .map((r) => r.datname)
    .sort((a, b) => Number(a.endsWith('_template')) - Number(b.endsWith('_template')));
  for (const name of names) {
    await dropDatabase(admin, name);
  }
}
