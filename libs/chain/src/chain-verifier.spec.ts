import type { Pool } from 'pg';

import { blsGenerateKey, initCrypto, type SecretScalar } from '@app/crypto';
import {
  aggregateVotes,
  Block,
  encodeQuorumCertificate,
  producerOfSlot,
  type QuorumCertificate,
  roundOfSlot,
  type RoundSchedule,
  signVote,
  type Timing,
} from '@app/ledger';

import { ChainVerifier } from './chain-verifier';

const CHAIN = 'cbsg-test';
const GENESIS_HASH = new Uint8Array(32).fill(9);
const DELEGATES = ['d1', 'd2', 'd3'];
const timing: Timing = { genesisTime: 1_700_000_000_000, slotMs: 1_000, producers: 3 };
/** Rounds 0 and 1 (slots 1 to 6), the same three delegates elected in each. */
const schedules: RoundSchedule[] = [0n, 1n].map((round) => ({
  round,
  elected: DELEGATES,
  slots: DELEGATES,
  base: DELEGATES,
}));

interface StoredBlock {
  block: Block;
  certificate: QuorumCertificate | null;
}

/**
 * Only what ChainVerifier reads, from memory: blocks without transactions, their certificates, the
 * round schedules and the delegates' keys. The SQL is matched by the table it reads.
 */
function poolOf(blocks: readonly StoredBlock[], keys: Map<string, Uint8Array>): Pool {
  const query = (sql: string, params: string[] = []) => {
    if (sql.includes('max(height)')) {
      return { rows: [{ height: String(blocks.length) }] };
    }
    if (sql.includes('FROM round_schedules')) {
      return {
        rows: schedules.map((s) => ({
          round: s.round.toString(),
          elected: s.elected,
          slots: s.slots,
          base: s.base,
        })),
      };
    }
    if (sql.includes('FROM registry_delegates')) {
      return { rows: [...keys].map(([id, key]) => ({ id, public_key: Buffer.from(key) })) };
    }
    if (sql.includes('FROM blocks b')) {
      const [from, to, limit] = params.map(Number) as [number, number, number];
      return {
        rows: blocks.slice(from - 1, Math.min(to, from - 1 + limit)).map(({ block, certificate }) => ({
          height: block.height.toString(),
          hash: Buffer.from(block.hash),
          previous_hash: Buffer.from(block.header.previousHash),
          header: Buffer.from(block.headerBytes),
          signature: Buffer.from(block.signature),
          certificate: certificate ? Buffer.from(encodeQuorumCertificate(certificate)) : null,
          // The columns derived from the header, as the finalizer writes them.
          slot: block.header.slot.toString(),
          round: roundOfSlot(timing, block.header.slot).toString(),
          timestamp: new Date(block.header.timestamp),
          producer: block.header.producer,
          transactions_root: Buffer.from(block.header.transactionsRoot),
          receiver_index_root: Buffer.from(block.header.receiverIndexRoot),
          transaction_count: block.header.transactionCount,
          certificate_block_hash: certificate ? Buffer.from(block.hash) : null,
        })),
      };
    }
    return { rows: [] }; // no transactions, organisations, owners or meters
  };
  return { query: (sql: string, params?: string[]) => Promise.resolve(query(sql, params)) } as never;
}

describe('ChainVerifier: quorum certificates belong to the block they are stored with', () => {
  const secrets = new Map<string, SecretScalar>();
  const publicKeys = new Map<string, Uint8Array>();

  beforeAll(async () => {
    await initCrypto();
    for (const id of DELEGATES) {
      const key = blsGenerateKey();
      secrets.set(id, key.secret);
      publicKeys.set(id, key.publicKey);
    }
  });

  function certify(block: Block, round = roundOfSlot(timing, block.header.slot)): QuorumCertificate {
    const votes = DELEGATES.map((id) =>
      signVote([{ id, key: secrets.get(id)! }], CHAIN, block.height, block.hash),
    );
    return aggregateVotes(votes, DELEGATES, round)!;
  }

  /**
   * Blocks 1 to `count` in slots 1, 2, ..., each certified and carrying its parent's certificate, as
   * producers make them; `parentCertificateOf` may put another certificate in a header.
   */
  function chainOf(
    count: number,
    parentCertificateOf: (height: bigint, made: StoredBlock[]) => QuorumCertificate | null = (h, made) =>
      made[Number(h) - 2]?.certificate ?? null,
  ): StoredBlock[] {
    const made: StoredBlock[] = [];
    for (let height = 1n; height <= BigInt(count); height += 1n) {
      const slot = height;
      const producer = producerOfSlot(timing, schedules[Number(roundOfSlot(timing, slot))]!, slot);
      const block = Block.produce(
        {
          chainId: CHAIN,
          height,
          previousHash: made[made.length - 1]?.block.hash ?? GENESIS_HASH,
          slot,
          timestamp: timing.genesisTime + Number(slot) * timing.slotMs,
          producer,
          parentCertificate: parentCertificateOf(height, made),
        },
        [],
        secrets.get(producer)!,
      );
      made.push({ block, certificate: certify(block) });
    }
    return made;
  }

  // Groups of two blocks: a bad certificate is named whether it is first or last in its group. No
  // block holds a report, so the report checker is never asked.
  const verify = (blocks: StoredBlock[]) =>
    new ChainVerifier(poolOf(blocks, publicKeys), { chainId: CHAIN, genesisHash: GENESIS_HASH, timing }, () =>
      Promise.resolve({ allValid: true, invalid: [], verdicts: [] }),
    ).verify({ batchBlocks: 2 });

  it('given a chain as producers make it, should find it valid', async () => {
    await expect(verify(chainOf(5))).resolves.toMatchObject({ ok: true, blocksChecked: 5 });
  });

  it("given block 3's certificate stored with block 1, should name height 1", async () => {
    const blocks = chainOf(5);
    blocks[0]!.certificate = blocks[2]!.certificate;
    await expect(verify(blocks)).resolves.toMatchObject({
      ok: false,
      firstBad: { height: '1', reason: expect.stringContaining('quorum certificate') },
    });
  });

  it('given two blocks whose stored certificates are swapped, should name the lower height', async () => {
    const blocks = chainOf(5);
    [blocks[1]!.certificate, blocks[3]!.certificate] = [blocks[3]!.certificate, blocks[1]!.certificate];
    await expect(verify(blocks)).resolves.toMatchObject({ ok: false, firstBad: { height: '2' } });
  });

  it("given a block's certificate named for another round whose set could sign it, should name its height", async () => {
    const blocks = chainOf(5);
    // Block 2 is in round 0; round 1 elected the same delegates, so the signature still verifies.
    blocks[1]!.certificate = certify(blocks[1]!.block, 1n);
    await expect(verify(blocks)).resolves.toMatchObject({ ok: false, firstBad: { height: '2' } });
  });

  it("given a header whose parent certificate is another block's, should name that block's height", async () => {
    const blocks = chainOf(5, (height, made) =>
      height === 4n ? made[0]!.certificate : (made[Number(height) - 2]?.certificate ?? null),
    );
    await expect(verify(blocks)).resolves.toMatchObject({
      ok: false,
      firstBad: { height: '4', reason: expect.stringContaining('quorum certificate') },
    });
  });
});
