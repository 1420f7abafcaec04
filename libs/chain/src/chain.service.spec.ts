// Catch-up logs every refusal it provokes on purpose; TEST_LOGS=1 shows them.
import '../../../test/quiet-logs';

import { Registry } from 'prom-client';

import type { AppConfig } from '@app/config';
import { blsGenerateKey, initCrypto, type SecretScalar } from '@app/crypto';
import type { ReportIntakeService } from '@app/intake';
import {
  Block,
  type BlockRules,
  DEFAULT_BLOCK_RULES,
  QuorumError,
  type RoundSchedule,
  type Timing,
  type Vote,
} from '@app/ledger';

import type { BlockValidator } from './block-validator';
import { CATCH_UP_PAGE_TRANSACTIONS } from './catch-up-page';
import type { ChainContext } from './chain-context.service';
import { type Candidate, ChainTree } from './chain-tree';
import {
  blockToWire,
  ChainService,
  HELD_VOTE_HEIGHTS_AHEAD,
  MAX_HELD_VOTES,
  MAX_HELD_VOTES_PER_BLOCK,
  voteFromWire,
} from './chain.service';
import type { Finalizer } from './finalizer';
import type { MempoolService } from './mempool.service';
import { maxBlockAnswerBytes, maxCatchUpPageBytes } from './p2p/answer-caps';
import type { PeerNetwork, PeerRequest } from './p2p/peer-network';
import type { ScheduleService } from './schedule.service';

const CHAIN = 'cbsg-test';
const GENESIS_HASH = new Uint8Array(32).fill(7);
const SLOT_MS = 1_000;
const timing: Timing = { genesisTime: Date.now() - 3_600_000, slotMs: SLOT_MS, producers: 3 };
/** The genesis' rules: blocks of at most 7 entries (the node's own MAX_BLOCK_TRANSACTIONS is 100). */
const blockRules: BlockRules = { ...DEFAULT_BLOCK_RULES, maxBlockTransactions: 7 };
const schedule: RoundSchedule = {
  round: 1n,
  elected: ['d1', 'd2', 'd3'],
  slots: ['d1', 'd2', 'd3'],
  base: ['d1', 'd2', 'd3'],
};

/** What a peer answers to GET requests: by path prefix (and what the request asks of the answer). */
type PeerAnswers = (path: string, request?: PeerRequest) => unknown;

/**
 * A ChainService on fakes: no database, no network. The validator takes every block (the rules are
 * BlockValidator's own tests'); the peers answer what each test says.
 */
function chainService(peers: Record<string, PeerAnswers>): ChainService {
  const pool = { query: () => Promise.resolve({ rows: [] }) };
  const config = {
    chain: { peers: Object.keys(peers), intakeHoldFinalityLagSlots: 0, maxBlockTransactions: 100 },
    intake: { acceptWindowMs: 60_000 },
  } as unknown as AppConfig;
  const context = {
    chainId: CHAIN,
    nodeId: 'node-1',
    genesisHash: GENESIS_HASH,
    timing,
    blockRules,
    localDelegates: new Map(),
    // Any delegate id d<n> is known (holdVote asks; nothing here checks a signature).
    delegateKey: (id: string) => (/^d[0-9]+$/.test(id) ? {} : undefined),
  } as unknown as ChainContext;
  const validator = {
    validate: (block: Block): Promise<Candidate> =>
      Promise.resolve({
        block,
        hashHex: block.hashHex,
        parentHex: Buffer.from(block.header.previousHash).toString('hex'),
        changes: [],
        nonces: new Set(),
        entries: new Set(),
        schedule,
      }),
    certifies: () => false,
  } as unknown as BlockValidator;
  const network = {
    peers: () => Object.keys(peers).map((id) => ({ id })),
    get: (peerId: string, path: string, request?: PeerRequest) =>
      Promise.resolve(peers[peerId]!(path, request)),
    broadcast: () => Promise.resolve(),
  } as unknown as PeerNetwork;
  const service = new ChainService(
    pool as never,
    config,
    context,
    {} as ScheduleService,
    validator,
    {} as MempoolService,
    {} as Finalizer,
    network,
    {} as ReportIntakeService,
    new Registry(),
  );
  const internals = service as unknown as { tree: ChainTree; behindPeers: boolean };
  internals.tree = new ChainTree({ height: 0n, hash: GENESIS_HASH, slot: 0n });
  // As onApplicationBootstrap leaves a node with peers: behind until a poll says otherwise.
  internals.behindPeers = true;
  return service;
}

const internals = (service: ChainService) =>
  service as unknown as {
    behindPeers: boolean;
    catchUp(): Promise<void>;
    intakeHold(): unknown;
  };

function statusOf(final: string, head = final): unknown {
  return { final: { height: final, hash: '00'.repeat(32) }, head: { height: head, hash: '11'.repeat(32) } };
}

describe('ChainService catch-up: what a peer must show before this node counts itself behind', () => {
  let key: SecretScalar;
  let chain: Block[];

  beforeAll(async () => {
    await initCrypto();
    key = blsGenerateKey().secret;
    chain = [];
    let previousHash: Uint8Array = GENESIS_HASH;
    for (let height = 1n; height <= 2n; height += 1n) {
      const block = Block.produce(
        {
          chainId: CHAIN,
          height,
          previousHash,
          slot: height,
          timestamp: timing.genesisTime + Number(height) * SLOT_MS,
          producer: 'd1',
          parentCertificate: null,
        },
        [],
        key,
      );
      chain.push(block);
      previousHash = block.hash;
    }
  });

  it('given a peer that claims final height 10^12 and serves no block, when polled a few times, should neither count itself behind nor hold intake', async () => {
    const service = chainService({
      liar: (path) => (path === '/p2p/status' ? statusOf('1000000000000') : []),
    });
    for (let poll = 0; poll < 3; poll += 1) {
      await internals(service).catchUp();
      expect(internals(service).behindPeers).toBe(false);
    }
    expect(internals(service).intakeHold()).toBeUndefined();
  });

  it('given a peer whose status height is "x", should poll the other peers and clear the start-up hold', async () => {
    const asked: string[] = [];
    const service = chainService({
      broken: () => statusOf('x'),
      quiet: (path) => {
        asked.push(path);
        return statusOf('0');
      },
    });
    expect(internals(service).intakeHold()).toBeDefined(); // the start-up hold
    await internals(service).catchUp();
    expect(asked).toContain('/p2p/status');
    expect(internals(service).behindPeers).toBe(false);
    expect(internals(service).intakeHold()).toBeUndefined();
  });

  it.each(['1e3', '-1', '01', ' 1', '18446744073709551616', 12])(
    'given a peer whose final height is %p, should ignore its claim',
    async (height) => {
      const service = chainService({
        odd: () => ({ final: { height }, head: { height: '0', hash: '' } }),
      });
      await internals(service).catchUp();
      expect(internals(service).behindPeers).toBe(false);
    },
  );

  it("given an honest peer ahead, should count itself behind while it takes the peer's blocks, and not once it has them all", async () => {
    let served = 1; // the peer's pages hold its final blocks up to here: block 2 comes a poll later
    const service = chainService({
      honest: (path) => {
        if (path === '/p2p/status') {
          return statusOf('2');
        }
        const from = /[?&]from=(\d+)/.exec(path)?.[1];
        return from ? chain.slice(Number(from) - 1, served).map((b) => blockToWire(b)) : [];
      },
    });
    const head = () => (service as unknown as { tree: ChainTree }).tree.head()?.block.height;

    await internals(service).catchUp();
    expect(head()).toBe(1n);
    expect(internals(service).behindPeers).toBe(true);
    expect(internals(service).intakeHold()).toBeDefined();

    served = 2;
    await internals(service).catchUp();
    expect(head()).toBe(2n);
    expect(internals(service).behindPeers).toBe(false);
    expect(internals(service).intakeHold()).toBeUndefined();
  });

  it("given a peer ahead, should take its pages and candidate blocks under byte caps of the genesis' block rules, and its status and candidate list under the default cap", async () => {
    const asked = new Map<string, PeerRequest | undefined>();
    const service = chainService({
      honest: (path, request) => {
        asked.set(path.replace(/\?.*/, '').replace(/[0-9a-f]{64}$/, ':hash'), request);
        if (path === '/p2p/status') {
          return statusOf('1', '2');
        }
        if (path.startsWith('/p2p/blocks?from=1&')) {
          return [blockToWire(chain[0]!)];
        }
        if (path === '/p2p/candidates') {
          return [{ hash: chain[1]!.hashHex, height: '2' }];
        }
        return path === `/p2p/candidates/${chain[1]!.hashHex}` ? blockToWire(chain[1]!) : [];
      },
    });
    await internals(service).catchUp();
    expect((service as unknown as { tree: ChainTree }).tree.head()?.block.height).toBe(2n);
    expect(Object.fromEntries(asked)).toEqual({
      '/p2p/status': undefined,
      '/p2p/blocks': {
        timeoutMs: expect.any(Number) as unknown,
        maxBytes: maxCatchUpPageBytes(CATCH_UP_PAGE_TRANSACTIONS, 7),
      },
      '/p2p/candidates': undefined,
      '/p2p/candidates/:hash': { maxBytes: maxBlockAnswerBytes(7) },
    });
  });
});

describe('ChainService catch-up: a peer that backed its claim, then a page that does not come', () => {
  let block: Block;

  beforeAll(async () => {
    await initCrypto();
    block = Block.produce(
      {
        chainId: CHAIN,
        height: 1n,
        previousHash: GENESIS_HASH,
        slot: 1n,
        timestamp: timing.genesisTime + SLOT_MS,
        producer: 'd1',
        parentCertificate: null,
      },
      [],
      blsGenerateKey().secret,
    );
  });

  it('given an honest peer ahead whose next pages time out, should stay behind for a few polls, then not', async () => {
    let pages = true; // then its pages time out (the network answers nothing)
    const service = chainService({
      honest: (path) => {
        if (path === '/p2p/status') {
          return statusOf('5');
        }
        return pages && /[?&]from=1\b/.test(path) ? [blockToWire(block)] : undefined;
      },
    });
    await internals(service).catchUp();
    expect(internals(service).behindPeers).toBe(true);
    pages = false;
    for (let poll = 0; poll < 3; poll += 1) {
      await internals(service).catchUp();
      expect(internals(service).behindPeers).toBe(true);
    }
    // Still nothing to back the claim: it no longer counts.
    await internals(service).catchUp();
    expect(internals(service).behindPeers).toBe(false);
  });
});

describe('voteFromWire: a vote as a peer sends it', () => {
  const wire = (height: unknown) => ({
    height: height as string,
    blockHash: 'ab'.repeat(32),
    voters: ['d1'],
    signature: 'cd'.repeat(96),
  });

  it.each(['x', '1e3', '-1', '', '01', '0x10', ' 7', '18446744073709551616', 5])(
    'given height %p, should refuse it with QUORUM.INVALID (a 400), not a SyntaxError (a 500)',
    (height) => {
      expect(() => voteFromWire(wire(height))).toThrow(QuorumError);
      expect(() => voteFromWire(wire(height))).toThrow(/decimal u64/);
    },
  );

  it('given heights 0 and 2^64-1, should take them', () => {
    expect(voteFromWire(wire('0')).height).toBe(0n);
    expect(voteFromWire(wire('18446744073709551615')).height).toBe(2n ** 64n - 1n);
  });
});

describe("ChainService held votes: what a peer's unchecked votes may take", () => {
  /** An unchecked vote on block `block` (a byte repeated), told apart from others by `n`. */
  function vote(height: bigint, block: number, n: number): Vote {
    const signature = new Uint8Array(96);
    new DataView(signature.buffer).setUint32(0, n);
    return { height, blockHash: new Uint8Array(32).fill(block), voters: ['d1'], signature };
  }
  const votesOf = (service: ChainService) =>
    service as unknown as {
      heldVotes: Map<string, Map<string, Vote>>;
      holdVote(vote: Vote): string | undefined;
    };
  const heldCount = (service: ChainService) =>
    [...votesOf(service).heldVotes.values()].reduce((n, held) => n + held.size, 0);

  it('given a vote more than HELD_VOTE_HEIGHTS_AHEAD above the head, should not hold it', () => {
    const service = chainService({});
    // The head is the final tip at height 0: no block above it here.
    expect(votesOf(service).holdVote(vote(HELD_VOTE_HEIGHTS_AHEAD, 1, 0))).toBeDefined();
    expect(votesOf(service).holdVote(vote(HELD_VOTE_HEIGHTS_AHEAD + 1n, 2, 0))).toBeUndefined();
    expect(votesOf(service).holdVote(vote(10n ** 12n, 3, 0))).toBeUndefined();
    expect(heldCount(service)).toBe(1);
  });

  it('given more votes on one block than MAX_HELD_VOTES_PER_BLOCK, should keep the newest', () => {
    const service = chainService({});
    const extra = 10;
    for (let n = 0; n < MAX_HELD_VOTES_PER_BLOCK + extra; n += 1) {
      votesOf(service).holdVote(vote(1n, 1, n));
    }
    const held = [...votesOf(service).heldVotes.values()];
    expect(held).toHaveLength(1);
    expect(held[0]!.size).toBe(MAX_HELD_VOTES_PER_BLOCK);
    const kept = [...held[0]!.values()].map((v) => new DataView(v.signature.buffer).getUint32(0));
    expect(Math.min(...kept)).toBe(extra);
  });

  it('given more votes in all than MAX_HELD_VOTES, should drop those on the lowest height first', () => {
    const service = chainService({});
    for (let n = 0; n < 10; n += 1) {
      votesOf(service).holdVote(vote(1n, 0, n));
    }
    // Then MAX_HELD_VOTES more on blocks at heights 2 to 4, each block below its own cap.
    const perBlock = MAX_HELD_VOTES_PER_BLOCK / 2;
    for (let n = 0; n < MAX_HELD_VOTES; n += 1) {
      const block = 1 + Math.floor(n / perBlock);
      votesOf(service).holdVote(vote(2n + BigInt(block % 3), block, n));
    }
    expect(heldCount(service)).toBe(MAX_HELD_VOTES);
    expect(votesOf(service).heldVotes.has('00'.repeat(32))).toBe(false);
  });
});
