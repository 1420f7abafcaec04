import { spawn } from 'node:child_process';
import path from 'node:path';

import type { INestApplication } from '@nestjs/common';
import request from 'supertest';

import { EventStore, ProjectionRunner } from '@app/event-store';
import { createTestDatabase, freePort, type TestDatabase } from '@app/testing';

import { ConsortiumHarness } from '../../../test/support/consortium-harness';

const MAIN = path.join(__dirname, '../src/main.ts');

/** Runs the real node entry point with an environment, and returns how it ended. */
function runNode(env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['-r', '@swc-node/register', MAIN], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LOG_LEVEL: 'silent', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

describe('accounting node (HTTP)', () => {
  let harness: ConsortiumHarness;
  let app: INestApplication;
  let db: TestDatabase;

  beforeAll(async () => {
    harness = await ConsortiumHarness.start({ nodeEnv: { PROJECTION_POLL_MS: '50' } });
    app = harness.node;
    db = harness.db;
  });

  afterAll(async () => {
    await harness.stop();
  });

  it('given a running node, when asked for liveness and readiness, should report Postgres and Redis up', async () => {
    await request(app.getHttpServer()).get('/health/live').expect(200, { status: 'ok' });
    const ready = await request(app.getHttpServer()).get('/health/ready').expect(200);
    expect(ready.body).toMatchObject({
      status: 'ok',
      info: {
        postgres: { status: 'up' },
        redis: { status: 'up' },
        outbox: { status: 'up' },
        projections: { status: 'up' },
      },
    });
  });

  it('given a running node, when asked for its OpenAPI document, should serve it at a stable path', async () => {
    const doc = await request(app.getHttpServer()).get('/openapi.json').expect(200);
    expect(doc.body).toMatchObject({
      openapi: expect.stringMatching(/^3\./) as string,
      info: { title: 'CBSG accounting node' },
    });
    expect(Object.keys(doc.body.paths as object)).toEqual(
      expect.arrayContaining(['/health/live', '/health/ready']),
    );
  });

  it('given events appended, when the background projection runs, should count them per type', async () => {
    const store = app.get(EventStore);
    const before = await app.get(EventStore).headPosition();
    await store.append({
      streamId: 'a',
      expectedVersion: 0,
      events: [{ type: 'test.one', schemaVersion: 1, payload: {} }],
    });
    await store.append({
      streamId: 'b',
      expectedVersion: 0,
      events: [
        { type: 'test.one', schemaVersion: 1, payload: {} },
        { type: 'test.two', schemaVersion: 1, payload: {} },
      ],
    });
    const deadline = Date.now() + 10_000;
    let rows: Array<{ type: string; events: string }> = [];
    while (Date.now() < deadline) {
      rows = (
        await db.pool.query<{ type: string; events: string }>(
          'SELECT type, events::text FROM journal_type_stats ORDER BY type',
        )
      ).rows;
      if (rows.some((r) => r.type === 'test.two')) {
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(rows.filter((r) => r.type.startsWith('test.'))).toEqual([
      { type: 'test.one', events: '2' },
      { type: 'test.two', events: '1' },
    ]);
    expect(
      app
        .get(ProjectionRunner)
        .status()
        .find((p) => p.name === 'journal-stats'),
    ).toMatchObject({ position: before + 3n, failures: 0 });
  });
});

describe('accounting node start-up failures (the real process)', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await db.drop();
  });

  it.each([
    [
      'a missing DATABASE_URL',
      { REDIS_URL: 'redis://127.0.0.1:6379' },
      /^cbsg node: invalid configuration: DATABASE_URL is required/,
    ],
    [
      'a bad DATABASE_URL',
      { DATABASE_URL: 'mysql://x/y', REDIS_URL: 'redis://127.0.0.1:6379' },
      /DATABASE_URL must be a postgresql:\/\/host:port\/database URL/,
    ],
    [
      'a bad REDIS_URL',
      { DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/x', REDIS_URL: 'http://nope' },
      /REDIS_URL must be a redis:\/\/host:port URL/,
    ],
  ])('given %s, when the node starts, should stop with one clear line', async (_case, env, expected) => {
    const { code, stderr } = await runNode(env);
    expect(code).toBe(1);
    expect(stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(expected);
  });

  it('given a Postgres that cannot be reached, when the node starts, should stop with one clear line saying what to do', async () => {
    const port = await freePort();
    const { code, stderr } = await runNode({
      DATABASE_URL: `postgresql://postgres@127.0.0.1:${port}/cbsg`,
      REDIS_URL: 'redis://127.0.0.1:6379',
    });
    expect(code).toBe(1);
    expect(stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(
      new RegExp(`cannot reach PostgreSQL at 127.0.0.1:${port}/cbsg \\(ECONNREFUSED\\): start it`),
    );
  });

  it('given no genesis document, when the node starts, should stop with one clear line saying how to make one', async () => {
    const { code, stderr } = await runNode({ DATABASE_URL: db.url, REDIS_URL: 'redis://127.0.0.1:6379' });
    expect(code).toBe(1);
    expect(stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/GENESIS_FILE is not set: create one with/);
  });

  it('given a Redis that cannot be reached, when the node starts, should stop with one clear line saying what to do', async () => {
    const port = await freePort();
    const { code, stderr } = await runNode({ DATABASE_URL: db.url, REDIS_URL: `redis://127.0.0.1:${port}` });
    expect(code).toBe(1);
    expect(stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(
      new RegExp(`cannot reach Redis at 127.0.0.1:${port} \\(ECONNREFUSED\\): start it`),
    );
  });
});
