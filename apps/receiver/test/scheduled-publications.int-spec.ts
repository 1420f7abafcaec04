import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { Pool } from 'pg';
import { Registry } from 'prom-client';

import type { ReceiverConfig } from '@app/config';
import { blsGenerateKey, initCrypto } from '@app/crypto';
import { Transaction } from '@app/ledger';
import { createTestDatabase, type TestDatabase } from '@app/testing';

import { ReceiverAnalyses } from '../src/analyses';
import type { ChainFollower } from '../src/chain-follower';
import type { NodeMeters } from '../src/node-meters';
import type { ReceiverRuntime } from '../src/receiver.tokens';
import { ScheduledPublications } from '../src/scheduled-publications';
import { SentTransactions } from '../src/sent-transactions';

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

const RETENTION_MS = 3_600_000;
/** The consortium's entry window (genesis) the receiver under test knows. */
const ENTRY_WINDOW_MS = 3_600_000;

function receiverConfig(nodeUrl: string): ReceiverConfig {
  return {
    receiverId: RECEIVER,
    organisation: { id: ORGANISATION },
    nodeUrl,
    sent: { resendAfterMs: 60_000, retentionMs: RETENTION_MS },
  } as ReceiverConfig;
}

function sentTransactions(
  pool: Pool,
  nodeUrl: string,
  metrics = new Registry(),
  sweepRows?: number,
): SentTransactions {
  return new SentTransactions(
    pool,
    {
      receiverId: RECEIVER,
      nodeUrl,
      nodeAuthorization: () => 'Bearer test',
      entryWindowMs: ENTRY_WINDOW_MS,
      resendAfterMs: 60_000,
      retentionMs: RETENTION_MS,
      sweepRows,
    },
    metrics,
  );
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
    const runtime = { chainId: 'cbsg-test', organisationKey: blsGenerateKey().secret } as ReceiverRuntime;
    return new ReceiverAnalyses(
      pool,
      receiverConfig(nodeUrl),
      runtime,
      {} as NodeMeters,
      sentTransactions(pool, nodeUrl),
    );
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
    const runtime = { chainId: 'cbsg-test', organisationKey: blsGenerateKey().secret } as ReceiverRuntime;
    const analyses = new ReceiverAnalyses(
      db.pool,
      receiverConfig(nodeUrl),
      runtime,
      {} as NodeMeters,
      sentTransactions(db.pool, nodeUrl),
    );
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

/**
 * A stand-in for the node's transaction lookups as well: GET /transactions/:hash answers from
 * `statuses` (unknown otherwise), GET /chain/status gives `finalHeight`, and POST /transactions is
 * answered by `answer`.
 */
async function lookupNode(answer: (tx: Transaction, response: ServerResponse) => void): Promise<{
  server: Server;
  url: string;
  received: Transaction[];
  statuses: Map<string, object>;
  chain: { finalHeight: number };
}> {
  const received: Transaction[] = [];
  const statuses = new Map<string, object>();
  const chain = { finalHeight: 0 };
  const server = createServer((request, response) => {
    void readBody(request).then((text) => {
      const json = (status: number, body: object) => {
        response.writeHead(status, { 'content-type': 'application/json' });
        response.end(JSON.stringify(body));
      };
      if (request.method === 'GET' && request.url === '/chain/status') {
        json(200, { final: { height: String(chain.finalHeight) } });
        return;
      }
      const lookup = /^\/transactions\/([0-9a-f]{64})$/.exec(request.url ?? '');
      if (request.method === 'GET' && lookup) {
        json(200, statuses.get(lookup[1]!) ?? { status: 'unknown', hash: lookup[1] });
        return;
      }
      const tx = Transaction.fromJSON(JSON.parse(text));
      received.push(tx);
      answer(tx, response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { server, url, received, statuses, chain };
}

let KEY: ReturnType<typeof blsGenerateKey>['secret'];

function publicationTx(periodEnd: number, timestamp = Date.now()): Transaction {
  return Transaction.sign(
    {
      chainId: 'cbsg-test',
      kind: 'receiver.publication',
      sender: ORGANISATION,
      timestamp,
      body: {
        receiverId: RECEIVER,
        subject: 'theft-suspects',
        from: periodEnd - 3_600_000,
        to: periodEnd,
        contentHash: 'ab'.repeat(32),
        summary: [],
      },
    },
    KEY,
  );
}

/** Stores a publication as publishScheduled does, with the given bookkeeping columns (SQL expressions). */
async function storePublication(
  pool: Pool,
  tx: Transaction,
  columns: {
    created_at?: string;
    accepted_at?: string;
    final_height?: number;
    final_at?: string;
    sends_in_doubt?: number;
  },
): Promise<void> {
  const body = tx.body as { to: number };
  await pool.query(
    `INSERT INTO receiver_publications (receiver_id, subject, period_end, tx_hash, tx, created_at, accepted_at,
                                       final_height, final_at, sends_in_doubt)
     VALUES ($1, 'theft-suspects', $2, $3, $4, ${columns.created_at ?? "now() - interval '3 hours'"},
             ${columns.accepted_at ?? 'NULL'}, $5,
             ${columns.final_at ?? 'NULL'}, $6)`,
    [
      RECEIVER,
      body.to,
      Buffer.from(tx.hash),
      Buffer.from(tx.encode()),
      columns.final_height ?? null,
      columns.sends_in_doubt ?? 1,
    ],
  );
}

async function metric(metrics: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const found = (await metrics.getMetricsAsJSON()).find((m) => m.name === name);
  const value = (found?.values ?? []).find((v) =>
    Object.entries(labels).every(([k, l]) => (v.labels as Record<string, unknown>)[k] === l),
  );
  return value?.value ?? 0;
}

describe('SentTransactions, the sweep: final as this receiver took it, pruned after the retention', () => {
  let db: TestDatabase;
  let node: Awaited<ReturnType<typeof lookupNode>>;

  beforeAll(async () => {
    await initCrypto();
    KEY = blsGenerateKey().secret;
    db = await createTestDatabase({ poolSize: 2 });
    node = await lookupNode((_tx, response) => response.writeHead(500).end());
  });

  afterAll(async () => {
    node?.server.close();
    await db?.drop();
  });

  it('given transactions final long ago, final lately, final at a block this receiver has not taken and pending, should prune only the first and mark final only the one whose block it took', async () => {
    const metrics = new Registry();
    const sent = sentTransactions(db.pool, node.url, metrics);
    sent.handle('receiver.publication', () => Promise.resolve(undefined));
    sent.handle('contract.result', () => Promise.resolve(undefined));
    const base = Date.now() - 24 * 3_600_000;
    const old = publicationTx(base + 1);
    const lately = publicationTx(base + 2);
    const taken = publicationTx(base + 3);
    const notTaken = publicationTx(base + 4);
    const pending = publicationTx(base + 5);
    await storePublication(db.pool, old, {
      accepted_at: "now() - interval '3 hours'",
      final_height: 3,
      final_at: "now() - interval '2 hours'",
    });
    await storePublication(db.pool, lately, {
      accepted_at: "now() - interval '20 minutes'",
      final_height: 4,
      final_at: "now() - interval '10 minutes'",
    });
    for (const tx of [taken, notTaken, pending]) {
      await storePublication(db.pool, tx, { accepted_at: "now() - interval '2 minutes'" });
    }
    // A batch of contract results, final long ago.
    await db.pool.query(
      `INSERT INTO contract_result_batches (receiver_id, tx_hash, tx, results, created_at, accepted_at, final_height, final_at)
       VALUES ($1, $2, $3, 1, now() - interval '3 hours', now() - interval '3 hours', 3, now() - interval '2 hours')`,
      [RECEIVER, Buffer.from(old.hash), Buffer.from(old.encode())],
    );
    const blockHash = (n: number) => Buffer.alloc(32, n);
    await db.pool.query(
      `INSERT INTO receiver_blocks (receiver_id, height, block_hash, processed_at)
       VALUES ($1, 7, $2, now()), ($1, 9, $3, now())`,
      [RECEIVER, blockHash(7), blockHash(1)],
    );
    node.statuses.set(taken.hashHex, {
      status: 'final',
      height: '7',
      blockHash: blockHash(7).toString('hex'),
    });
    // The node's block at 9 is not the one this receiver took there: not final here.
    node.statuses.set(notTaken.hashHex, {
      status: 'final',
      height: '9',
      blockHash: blockHash(9).toString('hex'),
    });
    node.statuses.set(pending.hashHex, { status: 'pending', hash: pending.hashHex });

    await sent.sweep();

    const { rows } = await db.pool.query<{ period_end: string; final_height: string | null }>(
      'SELECT period_end, final_height FROM receiver_publications WHERE receiver_id = $1 ORDER BY period_end',
      [RECEIVER],
    );
    expect(rows).toEqual([
      { period_end: String(base + 2), final_height: '4' },
      { period_end: String(base + 3), final_height: '7' },
      { period_end: String(base + 4), final_height: null },
      { period_end: String(base + 5), final_height: null },
    ]);
    const { rows: batches } = await db.pool.query(
      'SELECT 1 FROM contract_result_batches WHERE receiver_id = $1',
      [RECEIVER],
    );
    expect(batches).toHaveLength(0);
    expect(node.received).toHaveLength(0); // nothing the node has, or had, is sent again
    expect(
      await metric(metrics, 'cbsg_receiver_transactions_pruned_total', { kind: 'receiver.publication' }),
    ).toBe(1);
    expect(
      await metric(metrics, 'cbsg_receiver_transactions_pruned_total', { kind: 'contract.result' }),
    ).toBe(1);
    expect(
      await metric(metrics, 'cbsg_receiver_transactions_unconfirmed', { kind: 'receiver.publication' }),
    ).toBe(2);
  });

  it('given more transactions waiting than a sweep looks up, the next sweep should go on after them and find the one behind final', async () => {
    const sent = sentTransactions(db.pool, node.url, new Registry(), 2);
    sent.handle('receiver.publication', () => Promise.resolve(undefined));
    const base = Date.now() - 48 * 3_600_000;
    // Older than every other row of this database, in this order: two the node still holds pending
    // (as a stale one may wait days), then one final in a block this receiver took.
    const waiting = [publicationTx(base + 1), publicationTx(base + 2)];
    const behind = publicationTx(base + 3);
    for (const [i, tx] of [...waiting, behind].entries()) {
      await storePublication(db.pool, tx, {
        created_at: `now() - interval '10 hours' + interval '${i} seconds'`,
        accepted_at: "now() - interval '2 minutes'",
      });
    }
    for (const tx of waiting) {
      node.statuses.set(tx.hashHex, { status: 'pending', hash: tx.hashHex });
    }
    await db.pool.query(
      `INSERT INTO receiver_blocks (receiver_id, height, block_hash, processed_at) VALUES ($1, 21, $2, now())`,
      [RECEIVER, Buffer.alloc(32, 21)],
    );
    node.statuses.set(behind.hashHex, {
      status: 'final',
      height: '21',
      blockHash: Buffer.alloc(32, 21).toString('hex'),
    });
    const finalHeight = async () =>
      (
        await db.pool.query<{ final_height: string | null }>(
          'SELECT final_height FROM receiver_publications WHERE receiver_id = $1 AND tx_hash = $2',
          [RECEIVER, Buffer.from(behind.hash)],
        )
      ).rows[0]?.final_height;

    await sent.sweep();
    expect(await finalHeight()).toBeNull(); // the first page holds the two waiting

    await sent.sweep();
    expect(await finalHeight()).toBe('21');
  });

  it('given a period older than the retention, should not publish it (its row may have been pruned)', async () => {
    const runtime = { chainId: 'cbsg-test', organisationKey: KEY } as ReceiverRuntime;
    const analyses = new ReceiverAnalyses(
      db.pool,
      receiverConfig(node.url),
      runtime,
      {} as NodeMeters,
      sentTransactions(db.pool, node.url),
    );
    await expect(
      analyses.publishScheduled('theft-suspects', 12, Date.now() - 2 * RETENTION_MS),
    ).rejects.toThrow(/past the retention/);
    expect(node.received).toHaveLength(0);
  });
});

/**
 * A publication a node accepted, then dropped unincluded, which the node now finds too old: another
 * node may still hold it and put it in a block, so it is signed again only once the final chain, as
 * this receiver took it, is past its entry window without it.
 */
describe('SentTransactions, an accepted transaction the node lost and now finds too old', () => {
  let db: TestDatabase;
  let node: Awaited<ReturnType<typeof lookupNode>>;

  beforeAll(async () => {
    await initCrypto();
    db = await createTestDatabase({ poolSize: 2 });
    node = await lookupNode((tx, response) => {
      const stale = tx.timestamp < Date.now() - 60_000;
      response.writeHead(stale ? 422 : 201, { 'content-type': 'application/json' });
      response.end(
        JSON.stringify(
          stale
            ? { code: 'TX.STALE', message: 'the transaction is too old' }
            : { hash: tx.hashHex, status: 'pending', duplicate: false },
        ),
      );
    });
  });

  afterAll(async () => {
    node?.server.close();
    await db?.drop();
  });

  it('given the chain short of its entry window, or a node behind this receiver, should keep it; past it, should sign it again once', async () => {
    const metrics = new Registry();
    const runtime = { chainId: 'cbsg-test', organisationKey: KEY } as ReceiverRuntime;
    const sent = sentTransactions(db.pool, node.url, metrics);
    new ReceiverAnalyses(db.pool, receiverConfig(node.url), runtime, {} as NodeMeters, sent);
    const lost = publicationTx(Date.now() - 3 * 3_600_000, Date.now() - 2 * 3_600_000);
    await storePublication(db.pool, lost, { accepted_at: "now() - interval '2 hours'" });
    const checkpoint = async (height: number, blockTime: number) =>
      db.pool.query(
        `INSERT INTO receiver_checkpoints (receiver_id, height, block_hash, block_time, updated_at)
         VALUES ($1, $2, $3, $4, now())
         ON CONFLICT (receiver_id) DO UPDATE SET height = $2, block_time = $4`,
        [RECEIVER, height, Buffer.alloc(32), new Date(blockTime)],
      );
    const stored = async () =>
      (
        await db.pool.query<{ tx_hash: Buffer; accepted: boolean }>(
          'SELECT tx_hash, accepted_at IS NOT NULL AS accepted FROM receiver_publications WHERE receiver_id = $1',
          [RECEIVER],
        )
      ).rows;

    // The chain this receiver took ends just short of the window: any node may still include it.
    await checkpoint(50, lost.timestamp + ENTRY_WINDOW_MS - 1_000);
    node.chain.finalHeight = 50;
    await sent.sweep();
    expect(node.received.map((tx) => tx.hashHex)).toEqual([lost.hashHex]);
    expect(await stored()).toEqual([{ tx_hash: Buffer.from(lost.hash), accepted: true }]);

    // Past the window, but the node's final chain is behind this receiver's: it cannot vouch.
    await checkpoint(60, lost.timestamp + ENTRY_WINDOW_MS + 1_000);
    await sent.sweep();
    expect(node.received.map((tx) => tx.hashHex)).toEqual([lost.hashHex, lost.hashHex]);
    expect(await stored()).toEqual([{ tx_hash: Buffer.from(lost.hash), accepted: true }]);
    expect(
      await metric(metrics, 'cbsg_receiver_transactions_resent_total', {
        kind: 'receiver.publication',
        how: 'signed-again',
      }),
    ).toBe(0);

    // The node's final chain reaches the checkpoint, and it has the transaction nowhere: out of reach.
    node.chain.finalHeight = 61;
    await sent.sweep();
    expect(node.received).toHaveLength(4);
    const fresh = node.received[3]!;
    expect(fresh.hashHex).not.toBe(lost.hashHex);
    expect(fresh.body).toEqual(lost.body);
    expect(await stored()).toEqual([{ tx_hash: Buffer.from(fresh.hash), accepted: true }]);
    expect(
      await metric(metrics, 'cbsg_receiver_transactions_resent_total', {
        kind: 'receiver.publication',
        how: 'signed-again',
      }),
    ).toBe(1);

    // Swept again: the replacement is recent, and nothing more is sent.
    await sent.sweep();
    expect(node.received).toHaveLength(4);
  });
});
