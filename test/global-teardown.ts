import { Client } from 'pg';

import { adminUrl, dropRunDatabases } from '../libs/testing/src/test-database-names';

export default async function globalTeardown(): Promise<void> {
  const runId = process.env.CBSG_TEST_RUN_ID;
  if (!runId) {
    return;
  }
  const admin = new Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    await dropRunDatabases(admin, runId);
  } finally {
    await admin.end();
  }
}
