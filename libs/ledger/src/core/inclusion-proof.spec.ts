import { BlsPublicKey, blsGenerateKey, initCrypto, toHex } from '@app/crypto';

import { Block, type BlockEntry, encodeHeader } from './block';
import { checkInclusionProof, type InclusionProof } from './inclusion-proof';
import { merkleProof } from './merkle';
import { Transaction } from './transaction';

const CHAIN = 'cbsg-test';

describe('inclusion proofs, checked offline', () => {
  let producerKey: BlsPublicKey;
  let block: Block;
  let otherBlock: Block;

  function proofOf(b: Block, position: number): InclusionProof {
    const hashes = b.entries.map((e) => (e.type === 'report' ? e.report.id : e.transaction.hash));
    const path = merkleProof(hashes, position);
    const entry = b.entries[position]!;
    return {
      transaction: {
        hash: toHex(hashes[position]!),
        kind: entry.type === 'report' ? 'report' : entry.transaction.kind,
        position,
      },
      block: {
        height: b.height.toString(),
        hash: b.hashHex,
        header: toHex(b.headerBytes),
        signature: toHex(b.signature),
        producer: b.header.producer,
      },
      proof: { index: path.index, leafCount: path.leafCount, siblings: path.siblings.map(toHex) },
    };
  }

  beforeAll(async () => {
    await initCrypto();
    const producer = blsGenerateKey();
    producerKey = BlsPublicKey.fromBytes(producer.publicKey);
    const org = blsGenerateKey();
    const entries = Array.from({ length: 7 }, (_, i): BlockEntry => ({
      type: 'transaction',
      transaction: Transaction.sign(
        {
          chainId: CHAIN,
          kind: 'meter.revoke',
          sender: 'east-grid-operator',
          timestamp: 1_795_000_000_000 + i,
          body: { meterId: `meter-${i}`, reason: 'replaced' },
        },
        org.secret,
      ),
    }));
    const fields = {
      chainId: CHAIN,
      previousHash: new Uint8Array(32).fill(7),
      slot: 12n,
      timestamp: 1_795_000_024_000,
      producer: 'delegate-4',
      parentCertificate: null,
    };
    block = Block.produce({ ...fields, height: 9n }, entries, producer.secret);
    otherBlock = Block.produce({ ...fields, height: 10n, slot: 13n }, entries.slice(0, 3), producer.secret);
  });

  it('given the proof of each transaction of a block, should check it against the header alone, and with the producer key', () => {
    for (let position = 0; position < block.entries.length; position += 1) {
      const proof = proofOf(block, position);
      expect(checkInclusionProof(proof)).toEqual({
        ok: true,
        height: 9n,
        blockHash: block.hashHex,
        producer: 'delegate-4',
        producerSignatureChecked: false,
      });
      expect(checkInclusionProof(proof, { producerKey: () => producerKey })).toMatchObject({
        ok: true,
        producerSignatureChecked: true,
      });
    }
  });

  it('given a changed header (one field edited, or another block header), should fail and say why', () => {
    const proof = proofOf(block, 3);
    const edited = encodeHeader({ ...block.header, timestamp: block.header.timestamp + 1 });
    expect(checkInclusionProof({ ...proof, block: { ...proof.block, header: toHex(edited) } })).toEqual({
      ok: false,
      reason: 'the block hash is not the hash of this header and signature',
    });
    expect(checkInclusionProof(proof, { header: toHex(otherBlock.headerBytes) })).toMatchObject({
      ok: false,
    });
    // Even with the hash recomputed to match, the signature no longer holds.
    const forged = {
      ...proof,
      block: {
        ...proof.block,
        header: toHex(edited),
        hash: toHex(Block.fromParts(edited, block.signature, []).hash),
      },
    };
    expect(checkInclusionProof(forged, { producerKey: () => producerKey })).toEqual({
      ok: false,
      reason: 'the header is not signed by delegate-4',
    });
  });

  it('given a proof moved to another transaction or position, or a sibling changed, should fail', () => {
    const proof = proofOf(block, 2);
    const otherHash = proofOf(block, 5).transaction.hash;
    expect(checkInclusionProof({ ...proof, transaction: { ...proof.transaction, hash: otherHash } })).toEqual(
      {
        ok: false,
        reason: "the Merkle path does not lead to the header's transactions root",
      },
    );
    expect(
      checkInclusionProof({
        ...proof,
        transaction: { ...proof.transaction, position: 3 },
        proof: { ...proof.proof, index: 3 },
      }),
    ).toMatchObject({ ok: false });
    const siblings = [...proof.proof.siblings];
    siblings[0] = siblings[0]!.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    expect(checkInclusionProof({ ...proof, proof: { ...proof.proof, siblings } })).toMatchObject({
      ok: false,
    });
    expect(checkInclusionProof({ ...proof, proof: { ...proof.proof, leafCount: 8 } })).toEqual({
      ok: false,
      reason: "the proof's position or leaf count does not match the header",
    });
  });

  it('given a malformed document or an unknown producer, should refuse with a clear reason', () => {
    expect(checkInclusionProof({ transaction: {} })).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^not an inclusion proof: /),
    });
    expect(checkInclusionProof(proofOf(block, 0), { producerKey: () => undefined })).toEqual({
      ok: false,
      reason: 'no public key known for the producer delegate-4',
    });
  });
});
