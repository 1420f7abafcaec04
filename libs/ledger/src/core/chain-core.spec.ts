import { createHash } from 'node:crypto';

import {
  BlsPublicKey,
  blsGenerateKey,
  generateKeyPair,
  initCrypto,
  issuePartialKey,
  MeterPrivateKey,
  MeterSigncrypter,
  ReceiverPublicKey,
  setupSystem,
  type SecretScalar,
} from '@app/crypto';

import {
  Block,
  type BlockEntry,
  decodeBody,
  decodeHeader,
  encodeHeader,
  isHashHex,
  MAX_HEADER_BYTES,
  receiverIndex,
} from './block';
import { type ChainLink, finalByCertificates, finalByProducers, finalHeight } from './finality';
import { merkleProof, verifyMerkleProof } from './merkle';
import {
  aggregateVotes,
  checkQuorumCertificate,
  decodeQuorumCertificate,
  invalidVotes,
  encodeQuorumCertificate,
  isQuorum,
  MAX_QUORUM_CERTIFICATE_BYTES,
  quorumSize,
  signersOf,
  signVote,
  verifyVote,
  votersProblem,
  type Vote,
} from './quorum';
import {
  elect,
  electionAnchorIndex,
  missedOnBranch,
  producerOfSlot,
  roundOfSlot,
  scheduleRound,
  slotAt,
  slotStart,
  waitForPreviousBlockMs,
  tallyVotes,
} from './schedule';
import { Transaction } from './transaction';

const CHAIN = 'cbsg-test';

describe('blocks', () => {
  let producer: { secret: SecretScalar; publicKey: BlsPublicKey };
  let entries: BlockEntry[];

  beforeAll(async () => {
    await initCrypto();
    const key = blsGenerateKey();
    producer = { secret: key.secret, publicKey: BlsPublicKey.fromBytes(key.publicKey) };
    const { masterKey, params } = setupSystem();
    const receivers = ['cc', 'operator', 'supplier'].map((id) =>
      ReceiverPublicKey.register(params, { id, publicKey: generateKeyPair().publicKey }),
    );
    const meterKeys = generateKeyPair();
    const meter = MeterPrivateKey.assemble(
      params,
      meterKeys.secret,
      issuePartialKey(masterKey, params, 'm1', Buffer.from('r')),
    );
    const signcrypter = MeterSigncrypter.create(params, meter, {
      dimensionCount: 3,
      receivers: [
        { receiver: receivers[0]!, dimensions: [0, 1] },
        { receiver: receivers[2]!, dimensions: [2] },
      ],
    });
    const org = blsGenerateKey();
    entries = [
      {
        type: 'transaction',
        transaction: Transaction.sign(
          {
            chainId: CHAIN,
            kind: 'meter.revoke',
            sender: 'op',
            timestamp: 1,
            body: { meterId: 'x', reason: 'r' },
          },
          org.secret,
        ),
      },
      ...[1, 2, 3].map((n): BlockEntry => ({
        type: 'report',
        report: signcrypter.signcrypt([Buffer.of(n), Buffer.of(n), Buffer.of(n)], 1_795_000_000_000 + n),
      })),
    ];
  });

  const fields = () => ({
    chainId: CHAIN,
    height: 7n,
    previousHash: createHash('sha256').update('parent').digest(),
    slot: 12n,
    timestamp: 1_795_000_024_000,
    producer: 'delegate-3',
    parentCertificate: null,
  });

  it('given a produced block, when its parts are stored and read back, should keep its hash, verify, and match its body', () => {
    const block = Block.produce(fields(), entries, producer.secret);
    const back = Block.fromParts(block.headerBytes, block.signature, block.encodeBody());
    expect(back.hashHex).toBe(block.hashHex);
    expect(back.verifySignature(producer.publicKey)).toBe(true);
    expect(back.bodyMatchesHeader()).toBe(true);
    expect(decodeBody(block.encodeBody()).map((e) => e.type)).toEqual([
      'transaction',
      'report',
      'report',
      'report',
    ]);
    expect(receiverIndex(entries)).toEqual(
      new Map([
        ['cc', [1, 2, 3]],
        ['supplier', [1, 2, 3]],
      ]),
    );
  });

  it('given a block whose body was changed (an entry dropped, reordered or swapped), when checked, should not match its header', () => {
    const block = Block.produce(fields(), entries, producer.secret);
    const dropped = Block.fromParts(block.headerBytes, block.signature, entries.slice(1));
    const reordered = Block.fromParts(block.headerBytes, block.signature, [
      entries[0]!,
      entries[2]!,
      entries[1]!,
      entries[3]!,
    ]);
    expect(dropped.bodyMatchesHeader()).toBe(false);
    expect(reordered.bodyMatchesHeader()).toBe(false);
  });

  it('given a header changed after signing or another producer key, when verified, should fail', () => {
    const block = Block.produce(fields(), entries, producer.secret);
    const forged = Block.produce({ ...fields(), height: 8n }, entries, producer.secret);
    // The signature of one header on another header.
    expect(
      Block.fromParts(forged.headerBytes, block.signature, entries).verifySignature(producer.publicKey),
    ).toBe(false);
    expect(block.verifySignature(BlsPublicKey.fromBytes(blsGenerateKey().publicKey))).toBe(false);
  });

  it("given the largest fields a header's encoding takes (chain id and producer of 255 bytes, a parent certificate of a 65,535-seat set), should encode to MAX_HEADER_BYTES", () => {
    const parentCertificate = {
      height: 6n,
      blockHash: new Uint8Array(32).fill(1),
      round: 2n,
      setSize: 0xffff,
      signers: new Uint8Array(8192).fill(0xff),
      signature: new Uint8Array(96).fill(2),
    };
    expect(encodeQuorumCertificate(parentCertificate).length).toBe(MAX_QUORUM_CERTIFICATE_BYTES);
    const header = {
      ...fields(),
      chainId: 'c'.repeat(255),
      producer: 'p'.repeat(255),
      parentCertificate,
      transactionsRoot: new Uint8Array(32),
      receiverIndexRoot: new Uint8Array(32),
      transactionCount: 0xffffffff,
    };
    const bytes = encodeHeader(header);
    expect(bytes.length).toBe(MAX_HEADER_BYTES);
    expect(decodeHeader(bytes)).toEqual(header);
  });

  it('given a report in a block, when proved, should verify offline against the header root', () => {
    const block = Block.produce(fields(), entries, producer.secret);
    const proof = merkleProof(
      entries.map((e) => (e.type === 'report' ? e.report.id : e.transaction.hash)),
      2,
    );
    expect(
      verifyMerkleProof(
        (entries[2] as { report: { id: Uint8Array } }).report.id,
        proof,
        block.header.transactionsRoot,
      ),
    ).toBe(true);
  });
});

describe('votes and quorum certificates', () => {
  let set: Array<{ id: string; secret: SecretScalar; publicKey: Uint8Array }>;
  let elected: string[];
  const keyed = () =>
    elected.map((id) => ({ id, publicKey: BlsPublicKey.fromBytes(set.find((d) => d.id === id)!.publicKey) }));
  const blockHash = createHash('sha256').update('block').digest();

  beforeAll(async () => {
    await initCrypto();
    set = Array.from({ length: 7 }, (_, i) => ({ id: `delegate-${i}`, ...blsGenerateKey() }));
    elected = set.map((d) => d.id).sort();
  });

  it('given quorum sizes, when counted, should need strictly more than two thirds', () => {
    expect([1, 3, 4, 7, 21, 101].map(quorumSize)).toEqual([1, 3, 3, 5, 15, 68]);
    expect(isQuorum(14, 21)).toBe(false);
    expect(isQuorum(15, 21)).toBe(true);
  });

  it('given votes of 5 of 7, when aggregated, should make a certificate that verifies and names its signers; 4 of 7 make none', () => {
    const votes = set.slice(0, 5).map((d) => signVote([{ id: d.id, key: d.secret }], CHAIN, 9n, blockHash));
    for (const [i, v] of votes.entries()) {
      expect(verifyVote(v, CHAIN, [BlsPublicKey.fromBytes(set[i]!.publicKey)])).toBe(true);
    }
    const qc = aggregateVotes(votes, elected, 2n)!;
    expect(checkQuorumCertificate(qc, CHAIN, keyed())).toBeUndefined();
    expect(signersOf(qc, elected).sort()).toEqual(
      set
        .slice(0, 5)
        .map((d) => d.id)
        .sort(),
    );
    expect(decodeQuorumCertificate(encodeQuorumCertificate(qc))).toEqual(qc);
    expect(aggregateVotes(votes.slice(0, 4), elected, 2n)).toBeUndefined();
  });

  it('given the votes on one block, when checked together, should pass good ones with one aggregate and name each bad one', () => {
    const keyOf = (id: string) => {
      const d = set.find((x) => x.id === id);
      return d ? BlsPublicKey.fromBytes(d.publicKey) : undefined;
    };
    const block = { height: 9n, hash: blockHash };
    const good = set.slice(0, 5).map((d) => signVote([{ id: d.id, key: d.secret }], CHAIN, 9n, blockHash));
    expect(invalidVotes(good, block, CHAIN, keyOf)).toEqual([]);

    const inOthersName = {
      ...signVote([{ id: set[5]!.id, key: set[5]!.secret }], CHAIN, 9n, blockHash),
      voters: [set[6]!.id],
    };
    const otherBlock = signVote(
      [{ id: set[5]!.id, key: set[5]!.secret }],
      CHAIN,
      9n,
      createHash('sha256').update('x').digest(),
    );
    const otherHeight = signVote([{ id: set[5]!.id, key: set[5]!.secret }], CHAIN, 8n, blockHash);
    const unknown = { ...good[0]!, voters: ['delegate-unknown'] };
    const garbled = { ...good[1]!, signature: new Uint8Array(96).fill(7) };
    const bad = [inOthersName, otherBlock, otherHeight, unknown, garbled];
    const found = invalidVotes([...good.slice(2), ...bad], block, CHAIN, keyOf);
    expect(new Set(found)).toEqual(new Set(bad));
    expect(found).toHaveLength(bad.length);
  });

  it("given each node's delegates voting as one, when aggregated, should make the same certificate as their single votes, and leave out a vote that counts a voter twice", () => {
    const signer = (d: (typeof set)[number]) => ({ id: d.id, key: d.secret });
    const nodeA = signVote(set.slice(0, 3).map(signer), CHAIN, 9n, blockHash);
    const nodeB = signVote(set.slice(3, 5).map(signer), CHAIN, 9n, blockHash);
    expect(nodeA.voters).toEqual(set.slice(0, 3).map((d) => d.id));
    const keysOf = (v: Vote) =>
      v.voters.map((id) => BlsPublicKey.fromBytes(set.find((d) => d.id === id)!.publicKey));
    expect(verifyVote(nodeA, CHAIN, keysOf(nodeA))).toBe(true);
    expect(verifyVote(nodeA, CHAIN, keysOf(nodeA).slice(1))).toBe(false);
    const qc = aggregateVotes([nodeA, nodeB], elected, 2n)!;
    const singles = set.slice(0, 5).map((d) => signVote([signer(d)], CHAIN, 9n, blockHash));
    expect(qc).toEqual(aggregateVotes(singles, elected, 2n));
    expect(checkQuorumCertificate(qc, CHAIN, keyed())).toBeUndefined();
    // A vote naming delegate-0 again cannot be split from its other voter: it is left out whole.
    const overlapping = signVote([signer(set[0]!), signer(set[5]!)], CHAIN, 9n, blockHash);
    expect(aggregateVotes([nodeA, overlapping], elected, 2n)).toBeUndefined();
    expect(signersOf(aggregateVotes([nodeA, overlapping, nodeB], elected, 2n)!, elected)).toHaveLength(5);

    const keyOf = (id: string) => {
      const d = set.find((x) => x.id === id);
      return d ? BlsPublicKey.fromBytes(d.publicKey) : undefined;
    };
    const block = { height: 9n, hash: blockHash };
    const claimsMore = { ...nodeB, voters: [...nodeB.voters, set[6]!.id] };
    const withStranger = { ...nodeB, voters: [nodeB.voters[0]!, 'delegate-unknown'] };
    const twice = { ...nodeB, voters: [nodeB.voters[0]!, nodeB.voters[0]!] };
    const nobody = { ...nodeB, voters: [] };
    const found = invalidVotes([nodeA, nodeB, claimsMore, withStranger, twice, nobody], block, CHAIN, keyOf);
    expect(new Set(found)).toEqual(new Set([claimsMore, withStranger, twice, nobody]));
    expect(votersProblem([])).toMatch(/1 to/);
    expect(votersProblem(['a', 'a'])).toMatch(/once/);
    expect(votersProblem(['a', 7])).toMatch(/delegate id/);
    expect(votersProblem(['a', 'b'])).toBeUndefined();
    expect(() => signVote([signer(set[0]!), signer(set[0]!)], CHAIN, 9n, blockHash)).toThrow(/each once/);
  });

  it("given one side of a network cut that left the others out of its elected set, its votes should neither aggregate nor check; the larger side's should", () => {
    // The stake elected all 7; a side holding 3 of them dropped the other 4 for missed slots.
    const minority = set.slice(0, 3);
    const shrunk = minority.map((d) => d.id).sort();
    const minorityVotes = minority.map((d) => signVote([{ id: d.id, key: d.secret }], CHAIN, 9n, blockHash));
    expect(aggregateVotes(minorityVotes, shrunk, 4n, elected)).toBeUndefined();
    // Even a certificate built without the base rule is refused by the check that applies it.
    const forced = aggregateVotes(minorityVotes, shrunk, 4n)!;
    const shrunkKeys = keyed().filter((d) => shrunk.includes(d.id));
    expect(checkQuorumCertificate(forced, CHAIN, shrunkKeys)).toBeUndefined();
    expect(checkQuorumCertificate(forced, CHAIN, shrunkKeys, elected)).toMatch(/not more than half of the 7/);
    // The other side (4 of 7) after dropping the 3: a certificate holds.
    const majority = set.slice(3);
    const kept = majority.map((d) => d.id).sort();
    const majorityVotes = majority.map((d) => signVote([{ id: d.id, key: d.secret }], CHAIN, 9n, blockHash));
    const qc = aggregateVotes(majorityVotes, kept, 4n, elected)!;
    expect(
      checkQuorumCertificate(
        qc,
        CHAIN,
        keyed().filter((d) => kept.includes(d.id)),
        elected,
      ),
    ).toBeUndefined();
  });

  it('given a certificate with a forged bit, another block, another chain or a voter outside the set, when checked, should be refused with a reason', () => {
    const votes = set.slice(0, 5).map((d) => signVote([{ id: d.id, key: d.secret }], CHAIN, 9n, blockHash));
    const qc = aggregateVotes(votes, elected, 2n)!;
    const extraBit = { ...qc, signers: qc.signers.map((b, i) => (i === 0 ? b | 0x01 : b)) };
    expect(checkQuorumCertificate(extraBit, CHAIN, keyed())).toMatch(/does not verify|beyond/);
    expect(
      checkQuorumCertificate(
        { ...qc, blockHash: createHash('sha256').update('other').digest() },
        CHAIN,
        keyed(),
      ),
    ).toBe('the aggregate signature does not verify');
    expect(checkQuorumCertificate(qc, 'cbsg-other', keyed())).toBe('the aggregate signature does not verify');
    const outsider = blsGenerateKey();
    const withOutsider = aggregateVotes(
      [...votes.slice(0, 4), signVote([{ id: 'intruder', key: outsider.secret }], CHAIN, 9n, blockHash)],
      elected,
      2n,
    );
    expect(withOutsider).toBeUndefined();
  });
});

describe('DPoS schedule', () => {
  const timing = { genesisTime: 1_795_000_000_000, slotMs: 2_000, producers: 5 };

  it('given timestamps, when mapped to slots and rounds, should follow the slot length and the round size', () => {
    expect(slotAt(timing, timing.genesisTime + 4_999)).toBe(2n);
    expect(slotStart(timing, 3n)).toBe(timing.genesisTime + 6_000);
    expect([1n, 5n, 6n, 10n, 11n].map((s) => roundOfSlot(timing, s))).toEqual([0n, 0n, 1n, 1n, 2n]);
  });

  it("given a producer whose head lacks the previous slot's block, should wait for it until half its slot, and not at all when the head has it", () => {
    const start = slotStart(timing, 8n);
    expect(waitForPreviousBlockMs(timing, 8n, 7n, start + 200)).toBe(0);
    expect(waitForPreviousBlockMs(timing, 8n, 6n, start + 200)).toBe(800);
    expect(waitForPreviousBlockMs(timing, 8n, 3n, start + 999)).toBe(1);
    expect(waitForPreviousBlockMs(timing, 8n, 6n, start + 1_000)).toBe(0);
    expect(waitForPreviousBlockMs(timing, 8n, 6n, start + 1_900)).toBe(0);
  });

  it('given stake-weighted votes, when electing, should take the top N with ties to the smaller id, skipping revoked and dropped delegates', () => {
    const delegates = ['d1', 'd2', 'd3', 'd4', 'd5', 'd6', 'd7'].map((id) => ({ id, active: id !== 'd7' }));
    const standings = tallyVotes(delegates, [
      { stake: 100n, approves: ['d3', 'd4', 'd7'] },
      { stake: 40n, approves: ['d2', 'd4', 'd4'] },
    ]);
    expect(standings.find((s) => s.id === 'd4')!.votes).toBe(140n);
    expect(elect(standings, 3, new Set())).toEqual(['d4', 'd3', 'd2']);
    expect(elect(standings, 3, new Set(['d3']))).toEqual(['d4', 'd2', 'd1']);
    // Everyone dropped: the exclusions give way instead of stopping the chain.
    expect(elect(standings, 2, new Set(delegates.map((d) => d.id)))).toEqual(['d4', 'd3']);
  });

  it('given a seed, when a round is shuffled, should be deterministic, a permutation, and change with the seed', () => {
    const elected = ['d1', 'd2', 'd3', 'd4', 'd5'];
    const seed = createHash('sha256').update('last block of round r-2').digest();
    const a = scheduleRound(4n, elected, 5, seed);
    expect(scheduleRound(4n, elected, 5, seed)).toEqual(a);
    expect([...a.slots].sort()).toEqual(elected);
    const others = Array.from({ length: 20 }, (_, i) =>
      scheduleRound(4n, elected, 5, createHash('sha256').update(`seed ${i}`).digest()).slots.join(),
    );
    expect(new Set(others).size).toBeGreaterThan(5);
    expect(producerOfSlot(timing, a, 21n)).toBe(a.slots[0]);
  });

  it('given fewer eligible delegates than seats, when scheduled, should fill every slot with the elected in turn', () => {
    const schedule = scheduleRound(1n, ['d2', 'd1'], 5, Buffer.alloc(32));
    expect(schedule.slots).toHaveLength(5);
    expect(
      schedule.slots.filter((s) => s === 'd1').length + schedule.slots.filter((s) => s === 'd2').length,
    ).toBe(5);
    expect(schedule.elected).toEqual(['d1', 'd2']);
  });

  it("given a branch, when round r's anchor is sought, should be its last block at or before the end of round r-2", () => {
    // 5 slots a round: round 0 is slots 1-5, round 1 is 6-10, round 2 is 11-15.
    expect(electionAnchorIndex(timing, 2n, [3n, 5n, 7n, 12n])).toBe(1);
    expect(electionAnchorIndex(timing, 3n, [3n, 5n, 7n, 12n])).toBe(2);
    expect(electionAnchorIndex(timing, 4n, [3n, 5n, 7n, 12n])).toBe(3);
    expect(electionAnchorIndex(timing, 2n, [7n, 12n])).toBe(-1);
    expect(electionAnchorIndex(timing, 9n, [])).toBe(-1);
  });

  it('given the blocks a branch holds, when misses are counted, should name the producers of the empty slots after the given one', () => {
    const schedule = scheduleRound(1n, ['d1', 'd2', 'd3', 'd4', 'd5'], 5, Buffer.alloc(32));
    const producerOf = (slot: bigint) => producerOfSlot(timing, schedule, slot);
    expect(missedOnBranch(timing, schedule, 0n, new Set([6n, 7n, 8n, 9n, 10n]))).toEqual(new Set());
    expect(missedOnBranch(timing, schedule, 0n, new Set([6n, 8n, 10n]))).toEqual(
      new Set([producerOf(7n), producerOf(9n)]),
    );
    // Slots up to the final tip are counted from the final chain, not here.
    expect(missedOnBranch(timing, schedule, 8n, new Set([10n]))).toEqual(new Set([producerOf(9n)]));
    expect(missedOnBranch(timing, schedule, 12n, new Set())).toEqual(new Set());
  });
});

describe('finality', () => {
  const SEVEN = ['a', 'b', 'c', 'd', 'e', 'f', 'g'];
  const link = (height: number, producer: string, certified: boolean): ChainLink => ({
    height: BigInt(height),
    producer,
    certified,
    elected: SEVEN,
  });

  it('given two consecutive certified blocks, when judged, should make the lower one final (with its ancestors)', () => {
    const chain = [
      link(1, 'a', true),
      link(2, 'b', false),
      link(3, 'c', true),
      link(4, 'd', true),
      link(5, 'e', false),
    ];
    expect(finalByCertificates(chain)).toBe(3n);
    expect(finalByCertificates(chain.slice(0, 3))).toBe(0n);
  });

  it('given no certificates, when more than two thirds of the producers built on a block, should make it final by the classic rule', () => {
    const chain = ['a', 'b', 'c', 'd', 'e', 'a', 'f'].map((p, i) => link(i + 1, p, false));
    // 5 of 7 needed: heights 3..7 carry producers c, d, e, a, f.
    expect(finalByProducers(chain)).toBe(3n);
    expect(finalHeight(chain, 5n)).toBe(5n);
  });

  it('given producers of a shrunken set that are not most of the stake-elected set, the classic rule should not make their blocks final', () => {
    // Three producers left on one side of a cut, out of seven the stake elected.
    const chain = ['a', 'b', 'c', 'a', 'b', 'c'].map((p, i) => ({
      ...link(i + 1, p, false),
      elected: ['a', 'b', 'c'],
      base: SEVEN,
    }));
    expect(finalByProducers(chain)).toBe(0n);
    expect(finalByProducers(chain.map((l) => ({ ...l, base: ['a', 'b', 'c', 'd'] })))).toBe(4n);
  });

  it("given only 4 of its round's 7 elected producers on a block, and one more elected only in a later round, the classic rule should not make it final", () => {
    // Round 1 elected a..g; a, b, c and d built blocks 1 to 4. Round 2 elected x in g's place, and
    // x built block 5: five distinct producers above block 1, but only four of round 1's seven.
    const later = ['a', 'b', 'c', 'd', 'e', 'f', 'x'];
    const chain = [
      ...['a', 'b', 'c', 'd'].map((p, i) => link(i + 1, p, false)),
      { ...link(5, 'x', false), elected: later },
    ];
    expect(finalByProducers(chain)).toBe(0n);
    expect(finalHeight(chain, 0n)).toBe(0n);
    // A fifth producer of round 1 (e, elected in both rounds) makes block 1 final, wherever it produces.
    const withE = [...chain, { ...link(6, 'e', false), elected: later }];
    expect(finalByProducers(withE)).toBe(1n);
  });
});

describe('isHashHex', () => {
  it('takes 64 lower-case hex characters and nothing else', () => {
    const hash = createHash('sha256').update('x').digest('hex');
    expect(isHashHex(hash)).toBe(true);
    expect(isHashHex(hash.toUpperCase())).toBe(false);
    expect(isHashHex(hash.slice(1))).toBe(false);
    expect(isHashHex(`${hash}0`)).toBe(false);
    expect(isHashHex(`${hash.slice(1)}g`)).toBe(false);
    expect(isHashHex(`${hash}\n`)).toBe(false);
  });
});
