import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { initCrypto, setupSystem } from '@app/crypto';

import { fetchPartialKey, createHolderIdentity, PartialKeyFetchError } from './meter-identity';

describe('fetchPartialKey, given an answer that is not JSON', () => {
  let server: Server;
  let url: string;
  let answer: { status: number; body: string };

  beforeAll(async () => {
    await initCrypto();
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(answer.status, { 'content-type': 'text/html' });
        res.end(answer.body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it.each([
    [502, 'HTTP.502'],
    [200, 'PARTIAL_KEY.BAD_ANSWER'],
  ])(
    'given a proxy page with status %p, should throw a PartialKeyFetchError %p naming the status',
    async (status, code) => {
      answer = { status, body: '<html><body>Bad Gateway</body></html>' };
      const { params } = setupSystem();

      const fetched = fetchPartialKey({
        ccUrl: url,
        chainId: 'cbsg-test',
        params,
        subject: 'meter',
        holder: createHolderIdentity('meter-1'),
      });

      await expect(fetched).rejects.toBeInstanceOf(PartialKeyFetchError);
      await expect(fetched).rejects.toMatchObject({
        status,
        code,
        message: expect.stringContaining(`answered ${status} without JSON: <html>`) as unknown,
      });
    },
  );
});
