import { issueIdentityToken } from '@app/auth';
import { blsGenerateKey } from '@app/crypto';

import { ConsortiumHarness, ORGANISATIONS, PEER_NODE } from '../support/consortium-harness';

/** API_RATE_LIMIT=1: ten requests per client in a 10 s window. */
const WINDOW_LIMIT = 10;
const BURST = 3 * WINDOW_LIMIT;

describe('per-client rate limits on a node', () => {
  let harness: ConsortiumHarness;

  beforeAll(async () => {
    harness = await ConsortiumHarness.start({ nodeEnv: { API_RATE_LIMIT: '1' } });
  });

  afterAll(async () => {
    await harness.stop();
  });

  /** Statuses of `count` requests sent one after the other, as one client (one address). */
  async function statuses(count: number, path: string, init: RequestInit = {}): Promise<number[]> {
    const seen: number[] = [];
    for (let i = 0; i < count; i++) {
      const response = await fetch(`${harness.nodeUrl}${path}`, init);
      await response.arrayBuffer();
      seen.push(response.status);
    }
    return seen;
  }

  const postJson = (body: string): RequestInit => ({
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });

  it('given a client over its limit on a read endpoint, should answer 429 with Retry-After and a stable code', async () => {
    // The control center beside the node calls it from the same address: count only up to the limit.
    const seen = await statuses(WINDOW_LIMIT, '/chain/status');
    expect(seen.filter((status) => status === 200).length).toBeGreaterThan(WINDOW_LIMIT / 2);
    expect(seen.every((status) => status === 200 || status === 429)).toBe(true);
    const over = await fetch(`${harness.nodeUrl}/chain/status`);
    expect(over.status).toBe(429);
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await over.json()).toMatchObject({ statusCode: 429, code: 'HTTP.TOO_MANY_REQUESTS' });
    // Limits are counted per endpoint; reading a report is a read like any other.
    const unknownReport = `/reports/${'ab'.repeat(32)}`;
    expect(new Set(await statuses(WINDOW_LIMIT, unknownReport))).toEqual(new Set([404]));
    expect(await statuses(2, unknownReport)).toEqual([429, 429]);
  });

  it('given the same client far over its limit, meter intake should still answer every request on its merits', async () => {
    // An empty report is refused for what it is (400), never for the rate: meters behind one
    // gateway address share it, and intake has its own back-pressure (429/503 from the mempool).
    const single = await statuses(BURST, '/reports', postJson('{}'));
    expect(new Set(single)).toEqual(new Set([400]));
    const batch = await statuses(BURST, '/reports/batch', postJson('{"reports":[]}'));
    expect(new Set(batch)).toEqual(new Set([400]));
  });

  it('given the same client far over its limit, health, metrics and peer traffic should not be rate-limited', async () => {
    expect(new Set(await statuses(BURST, '/health/live'))).toEqual(new Set([200]));
    expect(new Set(await statuses(BURST, '/metrics'))).toEqual(new Set([200]));
    const peer = `Bearer ${issueIdentityToken(harness.consortium.nodeKeys.get(PEER_NODE)!, harness.chainId, {
      kind: 'node',
      id: PEER_NODE,
    })}`;
    expect(new Set(await statuses(BURST, '/p2p/status', { headers: { authorization: peer } }))).toEqual(
      new Set([200]),
    );
  });
  it('given a client sending forged tokens, should refuse them with 401 up to its limit, then with 429 and Retry-After before checking any; a token verified before and peer traffic still pass', async () => {
    const member = { headers: { authorization: harness.authorization(ORGANISATIONS.gridOperator) } };
    expect(await statuses(1, '/delegates', member)).toEqual([200]);
    // Signed with a key no member holds: each costs the node a signature check until it stops looking.
    const stranger = blsGenerateKey();
    const forged = (i: number): RequestInit => ({
      headers: {
        authorization: `Bearer ${issueIdentityToken(
          stranger.secret,
          harness.chainId,
          { kind: 'organisation', id: ORGANISATIONS.gridOperator },
          Date.now() - i,
        )}`,
      },
    });
    const seen: number[] = [];
    for (let i = 0; i < BURST; i++) {
      seen.push(...(await statuses(1, '/delegates', forged(i % 2 === 0 ? i : 1))));
    }
    expect(seen.every((status) => status === 401 || status === 429)).toBe(true);
    expect(seen.filter((status) => status === 401).length).toBeLessThanOrEqual(WINDOW_LIMIT);
    expect(seen.slice(WINDOW_LIMIT)).toEqual(seen.slice(WINDOW_LIMIT).map(() => 429));
    // Counted by address, not by endpoint.
    const over = await fetch(`${harness.nodeUrl}/contracts`, forged(BURST));
    expect(over.status).toBe(429);
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await over.json()).toMatchObject({ statusCode: 429, code: 'HTTP.TOO_MANY_REQUESTS' });

    expect(await statuses(1, '/delegates', member)).toEqual([200]);
    const peer = `Bearer ${issueIdentityToken(harness.consortium.nodeKeys.get(PEER_NODE)!, harness.chainId, {
      kind: 'node',
      id: PEER_NODE,
    })}`;
    expect(await statuses(1, '/p2p/status', { headers: { authorization: peer } })).toEqual([200]);
  });
});
