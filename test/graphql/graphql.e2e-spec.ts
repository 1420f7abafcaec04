import { createClient } from 'graphql-ws';
import type { Pool } from 'pg';
import WebSocket from 'ws';

import { ADMIN_KEY_CACHE_MS, AdminKeyRepository, issueIdentityToken, TOKEN_CLOCK_SKEW_MS } from '@app/auth';
import { PG_POOL } from '@app/persistence';

import { ADMIN, ConsortiumHarness, ORGANISATIONS, PEER_NODE } from '../support/consortium-harness';

interface BlockPage {
  blocks: { nodes: Array<{ height: string }>; endCursor: string | null };
}

interface GraphqlAnswer<T> {
  data?: T;
  errors?: Array<{ message: string; extensions?: { code?: string; argument?: string } }>;
}

describe('GraphQL for members and admins', () => {
  let harness: ConsortiumHarness;

  beforeAll(async () => {
    harness = await ConsortiumHarness.start({ slotMs: 150 });
  });

  afterAll(async () => {
    await harness.stop();
  });

  async function graphql<T>(
    query: string,
    authorization: string | null = harness.authorization(ORGANISATIONS.gridOperator),
    variables: Record<string, unknown> = {},
  ): Promise<{ status: number; body: GraphqlAnswer<T> }> {
    const response = await fetch(`${harness.nodeUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    return { status: response.status, body: (await response.json()) as GraphqlAnswer<T> };
  }

  async function finalHeight(): Promise<bigint> {
    const { body } = await graphql<{ chainStatus: { finalHeight: string } }>(
      '{ chainStatus { finalHeight } }',
    );
    return BigInt(body.data!.chainStatus.finalHeight);
  }

  it('given no credentials or a node token, should refuse with the reason; given a member or an admin, should answer', async () => {
    const anonymous = await graphql('{ chainStatus { finalHeight } }', null);
    expect(anonymous.body.errors?.[0]).toMatchObject({
      message: expect.stringContaining('needs credentials'),
      extensions: { code: 'AUTH.MISSING', status: 401 },
    });
    expect(anonymous.body.data ?? null).toBeNull();

    const peer = `Bearer ${issueIdentityToken(harness.consortium.nodeKeys.get(PEER_NODE)!, harness.chainId, {
      kind: 'node',
      id: PEER_NODE,
    })}`;
    const asNode = await graphql('{ chainStatus { finalHeight } }', peer);
    expect(asNode.body.errors?.[0]).toMatchObject({
      message: expect.stringContaining('node node-2 may not call'),
      extensions: { code: 'AUTH.FORBIDDEN', status: 403 },
    });

    const member = await graphql<{ chainStatus: { chainId: string } }>(
      '{ chainStatus { chainId finalHeight } }',
    );
    expect(member.body.data?.chainStatus.chainId).toBe(harness.chainId);
    const admin = await graphql<{ delegates: Array<{ id: string; votes: string }> }>(
      '{ delegates { id votes status } }',
      await harness.adminAuthorization(),
    );
    expect(admin.body.data?.delegates.map((d) => d.id).sort()).toEqual([
      'delegate-1',
      'delegate-2',
      'delegate-3',
    ]);
  });

  it('given 100 final blocks, a nested query over them and their transactions should cost a bounded number of SQL queries', async () => {
    const deadline = Date.now() + 90_000;
    while ((await finalHeight()) < 101n) {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    // Count the queries the GraphQL layer issues (the node's own work goes on meanwhile).
    const pool = harness.node.get<Pool>(PG_POOL);
    const original = pool.query.bind(pool) as (...args: unknown[]) => unknown;
    let queries = 0;
    pool.query = ((...args: unknown[]) => {
      if (String(args[0]).startsWith('/* graphql */')) {
        queries += 1;
      }
      return original(...args);
    }) as Pool['query'];
    try {
      const { body } = await graphql<{
        blocks: {
          nodes: Array<{ height: string; transactions: Array<{ hash: string; block: { hash: string } }> }>;
        };
      }>(
        '{ blocks(first: 100) { nodes { height hash transactions(first: 10) { hash kind block { hash } } } } }',
      );
      expect(body.errors).toBeUndefined();
      expect(body.data!.blocks.nodes).toHaveLength(100);
    } finally {
      pool.query = original as Pool['query'];
    }
    // One for the page and one for every block's transactions (their blocks are the page's): not 1 + 100 + 1,000.
    expect(queries).toBeGreaterThan(0);
    expect(queries).toBeLessThanOrEqual(2);
  });

  it('given pages of blocks read while new blocks are made, should return every block once, newest first', async () => {
    const seen: string[] = [];
    let before: string | null = null;
    for (let page = 0; page < 8; page += 1) {
      const answer: { body: GraphqlAnswer<BlockPage> } = await graphql<BlockPage>(
        'query ($before: String) { blocks(first: 10, before: $before) { nodes { height } endCursor hasMore } }',
        undefined,
        { before },
      );
      seen.push(...answer.body.data!.blocks.nodes.map((n) => n.height));
      before = answer.body.data!.blocks.endCursor;
      await new Promise((resolve) => setTimeout(resolve, 200)); // blocks go on being made meanwhile
    }
    const heights = seen.map(BigInt);
    expect(new Set(seen).size).toBe(seen.length);
    for (let i = 1; i < heights.length; i += 1) {
      expect(heights[i]).toBe(heights[i - 1]! - 1n);
    }
  });

  it('given a query too deep, too costly, or with a bad argument, should refuse it and say which limit', async () => {
    const deep = await graphql(`
      {
        blocks(first: 1) {
          nodes {
            transactions(first: 1) {
              block {
                transactions(first: 1) {
                  block {
                    transactions(first: 1) {
                      hash
                    }
                  }
                }
              }
            }
          }
        }
      }
    `);
    expect(deep.body.errors?.[0]).toMatchObject({ extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } });
    expect(deep.body.errors?.[0]?.message).toMatch(/levels deep; the limit is 6/);

    const costly = await graphql(
      '{ blocks(first: 100) { nodes { transactions(first: 1000) { hash kind } } } }',
    );
    expect(costly.body.errors?.[0]).toMatchObject({ extensions: { code: 'QUERY_TOO_COMPLEX' } });

    const bad = await graphql('{ blocks(first: 1000) { nodes { height } } }');
    expect(bad.body.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', argument: 'first' } });
  });

  it('given a receiver publishing theft suspects on the chain, the alarm subscription should deliver it once its block is final', async () => {
    await harness.registerReceiver(ORGANISATIONS.controlCenter, 'gql-cc', 'control-center');
    const client = createClient({
      url: harness.nodeUrl.replace(/^http/, 'ws') + '/graphql',
      webSocketImpl: WebSocket,
      connectionParams: { authorization: harness.authorization(ORGANISATIONS.gridOperator) },
    });
    try {
      const alarm = new Promise<Record<string, unknown>>((resolve, reject) => {
        const stop = client.subscribe<{ alarm: Record<string, unknown> }>(
          {
            query: 'subscription { alarm { source type severity receiverId organisation meterId message } }',
          },
          {
            next: (value) => {
              stop();
              resolve(value.data!.alarm);
            },
            error: reject,
            complete: () => undefined,
          },
        );
      });
      await new Promise((resolve) => setTimeout(resolve, 300)); // the subscription is in place
      const now = Date.now();
      const published = await harness.submit(ORGANISATIONS.controlCenter, 'receiver.publication', {
        receiverId: 'gql-cc',
        subject: 'theft-suspects',
        from: now - 3_600_000,
        to: now,
        contentHash: 'ab'.repeat(32),
        summary: [{ id: 'meter-77', codes: ['HIGH_SUPPLY_LOW_METER'] }],
      });
      expect(published.status).toBe(202);
      expect(await alarm).toEqual({
        source: 'receiver.publication',
        type: 'theft-suspects',
        severity: 'critical',
        receiverId: 'gql-cc',
        organisation: ORGANISATIONS.controlCenter,
        meterId: 'meter-77',
        message: '1 theft suspects: meter-77',
      });
    } finally {
      await client.dispose();
    }
  });

  it('given a subscription with credentials, should receive blocks as they are added and made final; without, the socket is refused', async () => {
    const url = harness.nodeUrl.replace(/^http/, 'ws') + '/graphql';
    const client = createClient({
      url,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: harness.authorization(ORGANISATIONS.controlCenter) },
    });
    const next = (query: string) =>
      new Promise<Record<string, { height: string; hash: string }>>((resolve, reject) => {
        const stop = client.subscribe<Record<string, { height: string; hash: string }>>(
          { query },
          {
            next: (value) => {
              stop();
              resolve(value.data!);
            },
            error: reject,
            complete: () => undefined,
          },
        );
      });
    try {
      const [added, finalized] = await Promise.all([
        next('subscription { blockAdded { height hash producer } }'),
        next('subscription { blockFinalized { height hash transactionCount } }'),
      ]);
      expect(BigInt(added.blockAdded!.height)).toBeGreaterThan(0n);
      const block = await harness.get(`/blocks/${finalized.blockFinalized!.height}`, ADMIN);
      expect((block.body as { hash: string }).hash).toBe(finalized.blockFinalized!.hash);
    } finally {
      await client.dispose();
    }

    const stranger = createClient({ url, webSocketImpl: WebSocket, retryAttempts: 0, lazy: true });
    const refused = await new Promise<unknown>((resolve) => {
      stranger.subscribe(
        { query: 'subscription { blockAdded { height } }' },
        {
          next: () => resolve('delivered'),
          error: (error) => resolve(error),
          complete: () => resolve('completed'),
        },
      );
    });
    expect(refused).not.toBe('delivered');
    await stranger.dispose();
  });
  /**
   * A subscription to blockAdded with `authorization`: the heights it receives, with when, and the
   * close of its socket (code and when), once it comes.
   */
  function watchBlocks(authorization: string) {
    const heights: Array<{ height: string; at: number }> = [];
    let closedAt: number | undefined;
    const closed = new Promise<number>((resolve) => {
      const client = createClient({
        url: harness.nodeUrl.replace(/^http/, 'ws') + '/graphql',
        webSocketImpl: WebSocket,
        retryAttempts: 0,
        connectionParams: { authorization },
        on: {
          closed: (event) => {
            closedAt = Date.now();
            resolve((event as { code: number }).code);
          },
        },
      });
      client.subscribe<{ blockAdded: { height: string } }>(
        { query: 'subscription { blockAdded { height } }' },
        {
          next: (value) => heights.push({ height: value.data!.blockAdded.height, at: Date.now() }),
          error: () => undefined,
          complete: () => undefined,
        },
      );
      stops.push(() => client.dispose());
    });
    return { heights, closed, closedAt: () => closedAt };
  }

  const stops: Array<() => unknown> = [];
  afterEach(async () => {
    await Promise.all(stops.splice(0).map((stop) => stop()));
  });

  async function until(check: () => boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check() && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  it('given a subscription opened with an admin key, when the key is revoked, should close the socket (4403) within the admin-key cache interval, and deliver nothing after', async () => {
    const { id, key } = await new AdminKeyRepository(harness.db.pool).create('subscription test');
    const watch = watchBlocks(`Bearer ${key}`);
    await until(() => watch.heights.length > 0, 10_000);
    expect(watch.heights.length).toBeGreaterThan(0);

    expect(await new AdminKeyRepository(harness.db.pool).revoke(id)).toBe(true);
    const revokedAt = Date.now();
    const code = await Promise.race([
      watch.closed,
      new Promise<string>((resolve) => setTimeout(() => resolve('still open'), ADMIN_KEY_CACHE_MS + 3_000)),
    ]);
    expect(code).toBe(4403);
    expect(watch.closedAt()! - revokedAt).toBeLessThan(ADMIN_KEY_CACHE_MS + 3_000);
    // Blocks come every 150 ms: none after the close.
    const seen = watch.heights.length;
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(watch.heights.length).toBe(seen);
    expect(watch.heights.every((h) => h.at <= watch.closedAt()!)).toBe(true);
  });

  it('given a subscription opened with an organisation token, when the token expires, should close the socket (4403) at its expiry plus the allowed skew', async () => {
    // Accepted for two more seconds: expired 28 s ago, within the 30 s of clock skew.
    const now = Date.now();
    const lifetime = 10_000;
    const iat = now + 2_000 - TOKEN_CLOCK_SKEW_MS - lifetime;
    const token = issueIdentityToken(
      harness.organisationKey(ORGANISATIONS.gridOperator),
      harness.chainId,
      { kind: 'organisation', id: ORGANISATIONS.gridOperator },
      iat,
      lifetime,
    );
    const watch = watchBlocks(`Bearer ${token}`);
    await until(() => watch.heights.length > 0, 2_000);
    expect(watch.heights.length).toBeGreaterThan(0);
    const code = await Promise.race([
      watch.closed,
      new Promise<string>((resolve) => setTimeout(() => resolve('still open'), 6_000)),
    ]);
    expect(code).toBe(4403);
    expect(watch.closedAt()!).toBeGreaterThanOrEqual(iat + lifetime + TOKEN_CLOCK_SKEW_MS);
  });
});
