import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

import { WebhookClient, WebhookError } from './webhook-client';

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
  socket: Socket;
}

describe('WebhookClient', () => {
  let server: Server;
  let url: string;
  let received: Received[];
  let answer: (response: ServerResponse) => void;
  const client = new WebhookClient(4, 300);

  beforeAll(async () => {
    server = createServer((request, response) => {
      let body = '';
      request.setEncoding('utf8');
      request.on('data', (chunk: string) => (body += chunk));
      request.on('end', () => {
        received.push({ headers: request.headers, body, socket: request.socket });
        answer(response);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  });

  beforeEach(() => {
    received = [];
    answer = (response) => response.writeHead(204).end();
  });

  afterAll(async () => {
    client.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('posts the body and headers as given and resolves with a 2xx status', async () => {
    const body = JSON.stringify({ meterId: 'meter-1', action: { id: 'a-1', type: 'notify' }, note: 'élan' });
    await expect(
      client.post(url, { 'content-type': 'application/json', 'idempotency-key': 'a-1' }, body),
    ).resolves.toBe(204);
    expect(received).toHaveLength(1);
    expect(received[0]!.body).toBe(body);
    expect(received[0]!.headers['idempotency-key']).toBe('a-1');
    expect(received[0]!.headers['content-type']).toBe('application/json');
    expect(received[0]!.headers['content-length']).toBe(String(Buffer.byteLength(body)));
  });

  it('reuses its connection for posts one after another', async () => {
    for (let i = 0; i < 5; i += 1) {
      await client.post(url, {}, `{"n":${i}}`);
    }
    expect(new Set(received.map((r) => r.socket)).size).toBe(1);
  });

  it('rejects an answer that is not 2xx, naming the status', async () => {
    answer = (response) => response.writeHead(503).end('busy');
    await expect(client.post(url, {}, '{}')).rejects.toThrow(new WebhookError(`${url} answered 503`));
    // The refused post's socket is still good for the next one.
    answer = (response) => response.writeHead(200).end('ok');
    await expect(client.post(url, {}, '{}')).resolves.toBe(200);
  });

  it('does not follow a redirect', async () => {
    answer = (response) => response.writeHead(307, { location: `${url}/elsewhere` }).end();
    await expect(client.post(url, {}, '{}')).rejects.toThrow(new WebhookError(`${url} answered 307`));
    expect(received.map((r) => r.body)).toEqual(['{}']);
  });

  it('rejects an endpoint that does not answer in time', async () => {
    answer = () => undefined; // never answers
    await expect(client.post(url, {}, '{}')).rejects.toThrow(/did not answer within 300 ms/);
  });

  it('rejects an endpoint that is not listening', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    await expect(client.post(`http://127.0.0.1:${port}/hook`, {}, '{}')).rejects.toThrow(WebhookError);
  });

  it('refuses a URL that is not http or https', async () => {
    await expect(client.post('file:///etc/passwd', {}, '{}')).rejects.toThrow(/not an http\(s\) URL/);
    expect(received).toHaveLength(0);
  });
});
