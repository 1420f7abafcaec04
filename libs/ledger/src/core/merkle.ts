import { hash } from 'node:crypto';

/**
 * The Merkle tree over a block's transactions (DESIGN.md section 3).
 *
 *   leaf(x)     = SHA-256(0x00 || x)            x: a transaction hash (32 bytes)
 *   node(l, r)  = SHA-256(0x01 || l || r)
 *   empty root  = SHA-256("cbsg/merkle/empty")
 *
 * Leaves and inner nodes are hashed with different prefixes (RFC 6962), so a leaf can never pass
 * for an inner node. A level with an odd count promotes its last node unchanged instead of
 * duplicating it (duplication lets two different lists share a root: CVE-2012-2459).
 */
export const EMPTY_MERKLE_ROOT: Uint8Array = sha256(Buffer.from('cbsg/merkle/empty', 'utf8'));

const LEAF = Uint8Array.of(0x00);
const NODE = Uint8Array.of(0x01);

export interface MerkleProof {
  /** Position of the leaf among the block's transactions. */
  index: number;
  /** How many leaves the tree has (fixes the shape, so the path cannot be replayed elsewhere). */
  leafCount: number;
  /** Sibling hashes from the leaf's level upwards; promoted levels have no sibling and no entry. */
  siblings: Uint8Array[];
}

function sha256(data: Uint8Array): Uint8Array {
  return hash('sha256', data, 'buffer');
}

export function merkleLeaf(item: Uint8Array): Uint8Array {
  return sha256(Buffer.concat([LEAF, item]));
}

function merkleNode(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256(Buffer.concat([NODE, left, right]));
}

function nextLevel(level: Uint8Array[]): Uint8Array[] {
  const up: Uint8Array[] = [];
  for (let i = 0; i + 1 < level.length; i += 2) {
    up.push(merkleNode(level[i]!, level[i + 1]!));
  }
  if (level.length % 2 === 1) {
    up.push(level[level.length - 1]!);
  }
  return up;
}

export function merkleRoot(items: readonly Uint8Array[]): Uint8Array {
  if (items.length === 0) {
    return EMPTY_MERKLE_ROOT;
  }
  let level = items.map(merkleLeaf);
  while (level.length > 1) {
    level = nextLevel(level);
  }
  return level[0]!;
}

export function merkleProof(items: readonly Uint8Array[], index: number): MerkleProof {
  if (!Number.isInteger(index) || index < 0 || index >= items.length) {
    throw new RangeError(`no item ${index} among ${items.length}`);
  }
  const siblings: Uint8Array[] = [];
  let level = items.map(merkleLeaf);
  let at = index;
  while (level.length > 1) {
    const sibling = at % 2 === 0 ? at + 1 : at - 1;
    if (sibling < level.length) {
      siblings.push(level[sibling]!);
    }
    level = nextLevel(level);
    at = Math.floor(at / 2);
  }
  return { index, leafCount: items.length, siblings };
}

/**
 * The proof of every item at once, the same as merkleProof gives for each, from one pass over the
 * tree: O(n log n) where n calls of merkleProof would take O(n^2).
 */
export function merkleProofs(items: readonly Uint8Array[]): MerkleProof[] {
  const levels: Uint8Array[][] = [items.map(merkleLeaf)];
  while (levels.at(-1)!.length > 1) {
    levels.push(nextLevel(levels.at(-1)!));
  }
  return items.map((_, index) => {
    const siblings: Uint8Array[] = [];
    let at = index;
    for (const level of levels.slice(0, -1)) {
      const sibling = at % 2 === 0 ? at + 1 : at - 1;
      if (sibling < level.length) {
        siblings.push(level[sibling]!);
      }
      at = Math.floor(at / 2);
    }
    return { index, leafCount: items.length, siblings };
  });
}

/** Recomputes the root from an item and its proof; true if it is `root`. Pure: checkable offline. */
export function verifyMerkleProof(item: Uint8Array, proof: MerkleProof, root: Uint8Array): boolean {
  const { index, leafCount, siblings } = proof;
  if (
    !Number.isInteger(leafCount) ||
    leafCount < 1 ||
    !Number.isInteger(index) ||
    index < 0 ||
    index >= leafCount
  ) {
    return false;
  }
  let current = merkleLeaf(item);
  let at = index;
  let width = leafCount;
  let used = 0;
  while (width > 1) {
    const isLastAlone = at === width - 1 && width % 2 === 1;
    if (!isLastAlone) {
      const sibling = siblings[used];
      if (!sibling || sibling.length !== 32) {
        return false;
      }
      used += 1;
      current = at % 2 === 0 ? merkleNode(current, sibling) : merkleNode(sibling, current);
    }
    at = Math.floor(at / 2);
    width = Math.ceil(width / 2);
  }
  return used === siblings.length && Buffer.from(current).equals(Buffer.from(root));
}
