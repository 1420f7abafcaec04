import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { Pool } from 'pg';

import type { ReceiverConfig } from '@app/config';
import { blsGenerateKey, initCrypto } from '@app/crypto';
import { Transaction } from '@app/ledger';
import { createTestDatabase, type TestDatabase } from '@app/testing';

import { ReceiverAnalyses } from '../src/analyses';
import type { ChainFollower } from '../src/chain-follower';
import type { NodeMeters } from '../src/node-meters';
import type { ReceiverRuntime } from '../src/receiver.tokens';
import { ScheduledPublications } from '../src/scheduled-publications';

const ORGANISATION = 'control-center';
const RECEIVER = 'cc-scheduled';

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    request.on('data', (chunk: Buffer) => (text += chunk.toString()));
    request.on('end', () => resolve(text));
  });
}

/**
 * A stand-in for the node's POST /transactions: records every transaction it is sent, in order, and
 * answers as `answer` says (the nth transaction received, counted from 1).
 */
async function fakeNode(
  answer: (tx: Transaction, nth: number, request: IncomingMessage, response: ServerResponse) => void,
): Promise<{ server: Server; url: string; received: Transaction[] }> {
  const received: Transaction[] = [];
  const server = createServer((request, response) => {
    void readBody(request).then((text) => {
      const tx = Transaction.fromJSON(JSON.parse(text));
      received.push(tx);
      answer(tx, received.length, request, response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received };
}

/**
 * The schedule against real Postgres and Redis, with a stand-in for the node that, as a busy node
 * can, takes the first publication and loses its answer: the job's attempt fails and BullMQ runs
 * the same scheduled run again.
 */
describe('ScheduledPublications, a scheduled run whose first answer is lost', () => {
  let db: TestDatabase;
  let node: Server;
  let nodeUrl: string;
  /** Every transaction the node was sent, in order; a known hash is a duplicate. */
  let received: Transaction[];

  beforeAll(async () => {
    await initCrypto();
    db = await createTestDatabase({ poolSize: 4 });
    ({
      server: node,
      url: nodeUrl,
      received,
    } = await fakeNode((tx, nth, request, response) => {
      if (nth === 1) {
        request.socket.destroy(); // taken, and the answer never arrives
        return;
      }
      const duplicate = received.slice(0, -1).some((r) => r.hashHex === tx.hashHex);
      response.writeHead(duplicate ? 200 : 201, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ hash: tx.hashHex, status: 'pending', duplicate }));
    }));
  });

  afterAll(async () => {
    node?.close();
    await db?.drop();
  });

  function analyses(pool: Pool): ReceiverAnalyses {
    const config = { receiverId: RECEIVER, organisation: { id: ORGANISATION }, nodeUrl } as ReceiverConfig;
    const runtime = { chainId: 'cbsg-test', organisationKey: blsGenerateKey().secret } as ReceiverRuntime;
    return new ReceiverAnalyses(pool, config, runtime, {} as NodeMeters);
  }

  it('given the node took the first attempt and its answer was lost, the retry should send the same transaction, one window', async () => {
    const caughtUp = { status: () => Promise.resolve({ height: '5', nodeFinalHeight: '5' }) };
    const schedule = new ScheduledPublications(
      analyses(db.pool),
      caughtUp as unknown as ChainFollower,
      {
        subjects: ['theft-suspects'],
        everyMs: 3_600_000, // one run in this test
        windowHours: 12,
        redisUrl: 'redis://127.0.0.1:6379',
        queuePrefix: `scheduled-${process.pid}-${Date.now()}`,
      },
      RECEIVER,
    );
    const started = Date.now();
    try {
      await schedule.start();
      // The first attempt fails with the lost answer; the retry comes after the 2 s back-off.
      const deadline = Date.now() + 30_000;
      while (received.length < 2 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await new Promise((resolve) => setTimeout(resolve, 500)); // no third attempt
    } finally {
      await schedule.stop();
    }

    expect(received.length).toBe(2);
    expect(new Set(received.map((tx) => tx.hashHex)).size).toBe(1);
    const windows = new Set(
      received.map((tx) => {
        const body = tx.body as { from: number; to: number };
        return `${body.from}-${body.to}`;
      }),
    );
    expect(windows.size).toBe(1);
    const body = received[0]!.body as { receiverId: string; subject: string; from: number; to: number };
    expect(body).toMatchObject({ receiverId: RECEIVER, subject: 'theft-suspects' });
    expect(body.to - body.from).toBe(12 * 3_600_000);
    // The run's own time, not the attempt's: at most the schedule's start, rounded by BullMQ.
    expect(body.to).toBeLessThanOrEqual(Date.now());
    expect(body.to).toBeGreaterThan(started - 3_600_000);
    const { rows } = await db.pool.query<{ period_end: string; tx_hash: Buffer; accepted: boolean }>(
      `SELECT period_end, tx_hash, accepted_at IS NOT NULL AS accepted FROM receiver_publications
       WHERE receiver_id = $1`,
      [RECEIVER],
    );
    expect(rows).toEqual([
      { period_end: String(body.to), tx_hash: Buffer.from(received[0]!.hash), accepted: true },
    ]);
  });
});

/**
 * A stored publication the node no longer takes (TX.STALE: it waited out an outage, and the node
 * never had it): the same body is signed again with a fresh timestamp, replaces the stored one, and
 * is the one marked accepted.
 */
describe('ReceiverAnalyses.publishScheduled, a stored publication the node finds too old', () => {
  let db: TestDatabase;
  let node: Server;
  let nodeUrl: string;
  let received: Transaction[];

  beforeAll(async () => {
    await initCrypto();
    db = await createTestDatabase({ poolSize: 2 });
    ({
      server: node,
      url: nodeUrl,
      received,
    } = await fakeNode((tx, nth, _request, response) => {
      if (nth === 1) {
        response.writeHead(422, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ code: 'TX.STALE', message: 'the transaction is too old' }));
        return;
      }
      response.writeHead(201, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ hash: tx.hashHex, status: 'pending', duplicate: false }));
    }));
  });

  afterAll(async () => {
    node?.close();
    await db?.drop();
  });

  it('given TX.STALE for the stored transaction, should sign the same body again, send it, and keep that one', async () => {
    const config = { receiverId: RECEIVER, organisation: { id: ORGANISATION }, nodeUrl } as ReceiverConfig;
    const runtime = { chainId: 'cbsg-test', organisationKey: blsGenerateKey().secret } as ReceiverRuntime;
    const analyses = new ReceiverAnalyses(db.pool, config, runtime, {} as NodeMeters);
    const periodEnd = Date.now() - 60_000;

    const published = await analyses.publishScheduled('theft-suspects', 12, periodEnd);

    expect(received).toHaveLength(2);
    const [stale, fresh] = received as [Transaction, Transaction];
    expect(fresh.hashHex).not.toBe(stale.hashHex);
    expect(fresh.timestamp).toBeGreaterThanOrEqual(stale.timestamp);
    expect(fresh.body).toEqual(stale.body); // the same period, window and content
    expect(published.txHash).toBe(fresh.hashHex);
    const { rows } = await db.pool.query<{ tx_hash: Buffer; accepted: boolean }>(
      `SELECT tx_hash, accepted_at IS NOT NULL AS accepted FROM receiver_publications
       WHERE receiver_id = $1 AND period_end = $2`,
      [RECEIVER, periodEnd],
    );
    expect(rows).toEqual([{ tx_hash: Buffer.from(fresh.hash), accepted: true }]);

    // Attempted again (a stalled job's second run): nothing more is sent.
    await analyses.publishScheduled('theft-suspects', 12, periodEnd);
    expect(received).toHaveLength(2);
  });
});
