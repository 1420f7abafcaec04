import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { Report } from '@app/crypto';

import { NodeSubmitter, retryAfterMsOf } from './node-submitter';

const report = { toJSON: () => ({ meterId: 'meter-1', nonce: '1' }) } as unknown as Report;

describe('NodeSubmitter', () => {
  let server: Server;
  let url: string;
  let answers: Array<{ status: number; headers?: Record<string, string> }>;
  let requests: number;

  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        requests += 1;
        const answer = answers.shift() ?? { status: 202 };
        res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
        res.end(JSON.stringify(answer.status < 300 ? { hash: 'ab' } : { code: 'X', message: 'x' }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  beforeEach(() => {
    requests = 0;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it.each([['3600'], ['3000000']])(
    'given a 503 with Retry-After %s s, should wait no longer than its longest delay, then send again',
    async (retryAfter) => {
      answers = [{ status: 503, headers: { 'retry-after': retryAfter } }];
      const submitter = new NodeSubmitter(url, { attempts: 3, firstDelayMs: 10, maxDelayMs: 300 });
      const started = Date.now();
      await expect(submitter.submit(report)).resolves.toMatchObject({ ok: true, status: 202 });
      expect(requests).toBe(2);
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      expect(Date.now() - started).toBeLessThan(5_000);
    },
    10_000,
  );

  it('given a 503 with Retry-After as an HTTP date, should wait until about then, not its first delay', async () => {
    // HTTP dates have whole seconds: 2 s ahead is at least 1 s once rounded down.
    answers = [{ status: 503, headers: { 'retry-after': new Date(Date.now() + 2_000).toUTCString() } }];
    const submitter = new NodeSubmitter(url, { attempts: 3, firstDelayMs: 10, maxDelayMs: 5_000 });
    const started = Date.now();
    await expect(submitter.submit(report)).resolves.toMatchObject({ ok: true, status: 202 });
    expect(requests).toBe(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  }, 10_000);

  it('given a 400, should not send it again', async () => {
    answers = [{ status: 400 }];
    const submitter = new NodeSubmitter(url, { attempts: 3, firstDelayMs: 10, maxDelayMs: 100 });
    await expect(submitter.submit(report)).resolves.toMatchObject({ ok: false, status: 400 });
    expect(requests).toBe(1);
  });
});

describe('retryAfterMsOf', () => {
  const now = Date.parse('2026-11-30T07:00:00Z');

  it('given delay-seconds, should answer them in ms', () => {
    expect(retryAfterMsOf('5', now)).toBe(5_000);
  });

  it('given an HTTP date, as a proxy may send it, should answer the time until it', () => {
    expect(retryAfterMsOf('Mon, 30 Nov 2026 07:00:30 GMT', now)).toBe(30_000);
  });

  it.each([[null], [''], ['0'], ['-3'], ['soon'], ['Mon, 30 Nov 2026 06:59:00 GMT']])(
    'given %p (absent, unreadable or past), should answer undefined',
    (value) => {
      expect(retryAfterMsOf(value, now)).toBeUndefined();
    },
  );
});
