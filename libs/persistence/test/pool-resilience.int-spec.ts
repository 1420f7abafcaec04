import type { AppConfig } from '@app/config';
import { createTestDatabase, type TestDatabase } from '@app/testing';

import { connectPool } from '../src';

describe("the node's database pool when Postgres drops a connection", () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await db.drop();
  });

  it('given a connection checked out in a transaction and terminated by the server, the process lives, the transaction fails and the pool serves the next query', async () => {
    const pool = await connectPool({
      database: { url: db.url, poolSize: 2 },
      startupTimeoutMs: 5_000,
    } as AppConfig);
    try {
      const client = await pool.connect();
      await client.query('BEGIN');
      const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      // What a Postgres restart does to every connection: an administrator's termination.
      await db.pool.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
      await new Promise((resolve) => setTimeout(resolve, 300)); // the error event arrives meanwhile
      await expect(client.query('SELECT 1')).rejects.toThrow();
      client.release(true);
      expect((await pool.query<{ one: number }>('SELECT 1 AS one')).rows[0]!.one).toBe(1);
    } finally {
      await pool.end();
    }
  });
});
