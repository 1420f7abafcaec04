// A peer over its cap is logged as unreachable on purpose; TEST_LOGS=1 shows it.
import '../../../../test/quiet-logs';

import { constants } from 'node:buffer';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';

import { Registry } from 'prom-client';

import type { AppConfig } from '@app/config';
import {
  type BlockEntry,
  DEFAULT_BLOCK_RULES,
  encodeBody,
  encodeHeader,
  encodeQuorumCertificate,
  MAX_BLOCK_ENTRY_BYTES,
  type QuorumCertificate,
} from '@app/ledger';

import type { WireBlock } from '../chain.service';
import type { ChainContext } from '../chain-context.service';
import { MAX_PEER_ANSWER_BYTES, maxBlockAnswerBytes, maxCatchUpPageBytes } from './answer-caps';
import { PeerNetwork } from './peer-network';

const PEER = 'node-2';
const MiB = 1024 * 1024;

/** What the fake peer did with one answer: bytes written, and whether the client left before the end. */
interface Sent {
  bytes: number;
  cutOff: boolean;
  closed: Promise<void>;
}

/**
 * Writes `total` bytes of one JSON string, 64 KiB at a time and minding back-pressure, as a peer
 * that streams a huge answer would; stops when the client closes the connection.
 */
async function streamJson(response: ServerResponse, total: number, sent: Sent): Promise<void> {
  const chunk = Buffer.alloc(64 * 1024, 'a');
  const write = (data: Buffer | string) => {
    sent.bytes += Buffer.byteLength(data);
    return response.write(data);
  };
  write('"');
  while (sent.bytes < total - 1 && !response.destroyed) {
    if (!write(chunk)) {
      await new Promise<void>((resolve) => {
        const go = () => {
          response.off('drain', go).off('close', go);
          resolve();
        };
        response.on('drain', go).on('close', go);
      });
    }
  }
  if (!response.destroyed) {
    response.end('"');
  }
}

/** The largest block the rules allow: every field and entry at its largest, as blockToWire sends it. */
function largestWireBlock(entries: number): WireBlock {
  const certificate: QuorumCertificate = {
    height: 2n ** 64n - 1n,
    blockHash: new Uint8Array(32).fill(1),
    round: 2n ** 64n - 1n,
    setSize: 0xffff,
    signers: new Uint8Array(8192).fill(0xff),
    signature: new Uint8Array(96).fill(2),
  };
  const header = encodeHeader({
    chainId: 'c'.repeat(255),
    height: 2n ** 64n - 1n,
    previousHash: new Uint8Array(32),
    slot: 2n ** 64n - 1n,
    timestamp: Number.MAX_SAFE_INTEGER,
    producer: 'p'.repeat(255),
    transactionsRoot: new Uint8Array(32),
    receiverIndexRoot: new Uint8Array(32),
    transactionCount: entries,
    parentCertificate: certificate,
  });
  // encodeBody reads only each entry's bytes.
  const entry = { type: 'report', report: { bytes: new Uint8Array(MAX_BLOCK_ENTRY_BYTES).fill(3) } };
  return {
    header: Buffer.from(header).toString('hex'),
    signature: 'ff'.repeat(96),
    body: Buffer.from(encodeBody(Array(entries).fill(entry) as BlockEntry[])).toString('base64'),
    certificate: Buffer.from(encodeQuorumCertificate(certificate)).toString('hex'),
  };
}

describe('answer caps: the largest answer an honest peer gives is within its cap', () => {
  it.each([1, 2, 5])(
    'given a block of %i entries, each of the largest kind, its wire JSON should be within maxBlockAnswerBytes, and the cap not much larger',
    (entries) => {
      const size = JSON.stringify(largestWireBlock(entries)).length;
      expect(size).toBeLessThanOrEqual(maxBlockAnswerBytes(entries));
      expect(maxBlockAnswerBytes(entries) - size).toBeLessThan(64);
    },
  );

  it('given a page of final blocks (blocks that hold fewer entries than asked for, then one of the largest), its JSON should be within maxCatchUpPageBytes', () => {
    const pageTransactions = 4;
    const blocks = 3;
    // Before the last block: pageTransactions - 1 entries in all (1 and 2), then a full block.
    const page = [largestWireBlock(1), largestWireBlock(2), largestWireBlock(blocks)];
    expect(JSON.stringify(page).length).toBeLessThanOrEqual(maxCatchUpPageBytes(pageTransactions, blocks));
  });

  it("given the genesis' default block rules, the caps should be the longest string V8 makes, which no honest peer goes past", () => {
    const rules = DEFAULT_BLOCK_RULES.maxBlockTransactions;
    expect(maxBlockAnswerBytes(rules)).toBe(constants.MAX_STRING_LENGTH);
    expect(maxCatchUpPageBytes(1, rules)).toBe(constants.MAX_STRING_LENGTH);
  });
});

describe("PeerNetwork: a peer's answer is read under a byte cap", () => {
  let server: Server;
  let url: string;
  let answer: (request: IncomingMessage, response: ServerResponse, sent: Sent) => void;
  let sent: Sent[];

  beforeAll(async () => {
    server = createServer((request, response) => {
      const record: Sent = { bytes: 0, cutOff: false, closed: Promise.resolve() };
      record.closed = new Promise((resolve) =>
        response.once('close', () => {
          record.cutOff = !response.writableFinished;
          resolve();
        }),
      );
      sent.push(record);
      request.resume();
      answer(request, response, record);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  beforeEach(() => {
    sent = [];
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  /** A PeerNetwork with one peer, the fake one; `linkKey` lets it broadcast to it. */
  function network(linkKey?: Uint8Array): { peers: PeerNetwork; metrics: Registry } {
    const config = { chain: { peers: [{ id: PEER, url }] } } as unknown as AppConfig;
    const context = {
      nodeId: 'node-1',
      hasNodeKey: () => linkKey !== undefined,
      linkKey: () => linkKey,
    } as unknown as ChainContext;
    const metrics = new Registry();
    return { peers: new PeerNetwork(config, context, metrics), metrics };
  }

  async function overCapCount(metrics: Registry): Promise<number> {
    const metric = await metrics.getSingleMetric('cbsg_p2p_answers_over_cap_total')!.get();
    return metric.values.find((v) => v.labels.peer === PEER)?.value ?? 0;
  }

  it('given a peer that streams a body far over the cap (1 GiB, chunked, no Content-Length), get should resolve undefined at once, mark the peer unreachable naming the cap, count it, and close the connection long before the peer is done', async () => {
    answer = (_request, response, record) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      void streamJson(response, 1024 * MiB, record);
    };
    const { peers, metrics } = network();
    const started = Date.now();
    await expect(peers.get(PEER, '/p2p/candidates/x', { maxBytes: MiB })).resolves.toBeUndefined();
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(peers.peers()).toEqual([
      expect.objectContaining({ id: PEER, reachable: false, lastError: `its answer is over ${MiB} bytes` }),
    ]);
    expect(await overCapCount(metrics)).toBe(1);
    await sent[0]!.closed;
    expect(sent[0]!.cutOff).toBe(true);
    // The cap, and what the sockets' buffers on both sides held: nowhere near the gigabyte.
    expect(sent[0]!.bytes).toBeLessThan(32 * MiB);
  });

  it('given a status answer over the default cap (the limit of a peer message), get should refuse it as well', async () => {
    answer = (_request, response, record) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      void streamJson(response, 1024 * MiB, record);
    };
    const { peers } = network();
    await expect(peers.get(PEER, '/p2p/status')).resolves.toBeUndefined();
    expect(peers.peers()[0]!.lastError).toBe(`its answer is over ${MAX_PEER_ANSWER_BYTES} bytes`);
    await sent[0]!.closed;
    expect(sent[0]!.cutOff).toBe(true);
    expect(sent[0]!.bytes).toBeLessThan(MAX_PEER_ANSWER_BYTES + 32 * MiB);
  });

  it('given a Content-Length over the cap, get should refuse the answer before reading its body', async () => {
    answer = (_request, response, record) => {
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': 1024 * MiB });
      void streamJson(response, 1024 * MiB, record);
    };
    const { peers, metrics } = network();
    await expect(peers.get(PEER, '/p2p/blocks', { maxBytes: MiB })).resolves.toBeUndefined();
    expect(peers.peers()[0]!.lastError).toBe(
      `its answer is over ${MiB} bytes (Content-Length ${1024 * MiB})`,
    );
    expect(await overCapCount(metrics)).toBe(1);
    await sent[0]!.closed;
    expect(sent[0]!.cutOff).toBe(true);
  });

  it('given a Content-Length well under the cap on a body that inflates far over it (gzip), get should count what it inflates to and refuse it', async () => {
    const bomb = gzipSync(`"${'a'.repeat(16 * MiB)}"`);
    expect(bomb.length).toBeLessThan(MiB / 32);
    answer = (_request, response) => {
      response
        .writeHead(200, {
          'content-type': 'application/json',
          'content-encoding': 'gzip',
          'content-length': bomb.length,
        })
        .end(bomb);
    };
    const { peers } = network();
    await expect(peers.get(PEER, '/p2p/blocks', { maxBytes: MiB })).resolves.toBeUndefined();
    expect(peers.peers()[0]!.lastError).toBe(`its answer is over ${MiB} bytes`);
  });

  it('given the largest block the rules allow, exactly at its cap, get should take it whole; one byte more is over', async () => {
    const entries = 3;
    const block = largestWireBlock(entries);
    const cap = maxBlockAnswerBytes(entries);
    const json = JSON.stringify(block);
    let padding = cap - json.length; // JSON may end in white space
    answer = (_request, response) => {
      // Written, then ended: chunked, so that it is the count of bytes read that decides.
      response.writeHead(200, { 'content-type': 'application/json' }).write(json + ' '.repeat(padding));
      response.end();
    };
    const { peers, metrics } = network();
    await expect(peers.get(PEER, '/p2p/candidates/x', { maxBytes: cap })).resolves.toEqual(block);
    expect(peers.peers()[0]).toMatchObject({ reachable: true, lastError: undefined });

    padding += 1;
    await expect(peers.get(PEER, '/p2p/candidates/x', { maxBytes: cap })).resolves.toBeUndefined();
    expect(peers.peers()[0]).toMatchObject({
      reachable: false,
      lastError: `its answer is over ${cap} bytes`,
    });
    expect(await overCapCount(metrics)).toBe(1);
  });

  it("given a peer's refusal of a message, should log it and keep the peer reachable; a refusal over the cap marks it unreachable", async () => {
    let refusal: (response: ServerResponse, record: Sent) => void = (response) => {
      response
        .writeHead(400, { 'content-type': 'application/json' })
        .end(JSON.stringify({ code: 'P2P.MALFORMED', message: 'no' }));
    };
    answer = (_request, response, record) => refusal(response, record);
    const { peers, metrics } = network(new Uint8Array(32).fill(9));
    await peers.broadcast('votes', { votes: [] });
    expect(peers.peers()[0]).toMatchObject({ reachable: true, lastError: undefined });

    refusal = (response, record) => {
      response.writeHead(400, { 'content-type': 'application/json' });
      void streamJson(response, 1024 * MiB, record);
    };
    await peers.broadcast('votes', { votes: [] });
    expect(peers.peers()[0]).toMatchObject({
      reachable: false,
      lastError: `its answer is over ${MAX_PEER_ANSWER_BYTES} bytes`,
    });
    expect(await overCapCount(metrics)).toBe(1);
    await sent[1]!.closed;
    expect(sent[1]!.cutOff).toBe(true);
  });
});
