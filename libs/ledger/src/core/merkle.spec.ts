import { createHash, randomBytes } from 'node:crypto';

import fc from 'fast-check';

import {
  EMPTY_MERKLE_ROOT,
  merkleLeaf,
  merkleProof,
  merkleProofs,
  merkleRoot,
  verifyMerkleProof,
} from './merkle';

const item = (n: number) => createHash('sha256').update(`tx-${n}`).digest();
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('Merkle tree', () => {
  it('given known lists, when hashed, should give the recorded roots (the encoding is part of the block format)', () => {
    expect(hex(EMPTY_MERKLE_ROOT)).toBe(createHash('sha256').update('cbsg/merkle/empty').digest('hex'));
    expect(hex(merkleRoot([item(1)]))).toBe(hex(merkleLeaf(item(1))));
    const manual = (l: Uint8Array, r: Uint8Array) =>
      createHash('sha256')
        .update(Buffer.concat([Buffer.of(1), l, r]))
        .digest();
    const [a, b, c] = [item(1), item(2), item(3)].map(merkleLeaf);
    // three leaves: the third is promoted, not duplicated
    expect(hex(merkleRoot([item(1), item(2), item(3)]))).toBe(hex(manual(manual(a!, b!), c!)));
  });

  it('given a list and its copy with the last item duplicated, when hashed, should give different roots', () => {
    const list = [item(1), item(2), item(3)];
    expect(hex(merkleRoot(list))).not.toBe(hex(merkleRoot([...list, item(3)])));
  });

  it('given a leaf hash, when offered as an inner node, should not verify (leaves and nodes are domain-separated)', () => {
    const list = [item(1), item(2)];
    const root = merkleRoot(list);
    // The root is node(leaf1, leaf2); a forged "item" equal to leaf1||leaf2 must not prove against it.
    expect(
      verifyMerkleProof(
        Buffer.concat([merkleLeaf(item(1)), merkleLeaf(item(2))]),
        { index: 0, leafCount: 1, siblings: [] },
        root,
      ),
    ).toBe(false);
  });

  it('given any list and any index, when proved, should verify offline against the root, and fail for any other item, index or root', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 70 }), fc.nat(), (count, pick) => {
        const items = Array.from({ length: count }, (_, i) => item(i));
        const index = pick % count;
        const root = merkleRoot(items);
        const proof = merkleProof(items, index);
        expect(verifyMerkleProof(items[index]!, proof, root)).toBe(true);
        expect(verifyMerkleProof(randomBytes(32), proof, root)).toBe(false);
        expect(verifyMerkleProof(items[index]!, proof, randomBytes(32))).toBe(false);
        if (count > 1) {
          const other = (index + 1) % count;
          expect(verifyMerkleProof(items[index]!, { ...proof, index: other }, root)).toBe(false);
        }
        if (proof.siblings.length > 0) {
          const tampered = proof.siblings.map((s, i) => (i === 0 ? randomBytes(32) : s));
          expect(verifyMerkleProof(items[index]!, { ...proof, siblings: tampered }, root)).toBe(false);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('given any list, when every proof is made at once, should give the very proofs made one by one', () => {
    for (let count = 1; count <= 40; count += 1) {
      const items = Array.from({ length: count }, (_, i) => item(i));
      const root = merkleRoot(items);
      const all = merkleProofs(items);
      expect(all).toHaveLength(count);
      all.forEach((proof, index) => {
        expect(proof).toEqual(merkleProof(items, index));
        expect(verifyMerkleProof(items[index]!, proof, root)).toBe(true);
      });
    }
    expect(merkleProofs([])).toEqual([]);
  });
});
