import { z } from 'zod';

import { type BlsPublicKey, fromHex, toHex } from '@app/crypto';

import { blockHash, decodeHeader, verifyHeaderSignature } from './block';
import { verifyMerkleProof } from './merkle';

/**
 * An inclusion proof as a node serves it (GET /tx/:hash/proof): the transaction's hash and position,
 * its block's header and producer signature, and the Merkle path from the transaction to the
 * header's root. Everything needed to check it is inside, so it can be checked offline, by anyone,
 * against the header alone or against a header obtained elsewhere (another node, a head digest).
 */
export interface InclusionProof {
  transaction: { hash: string; kind: string; position: number };
  block: { height: string; hash: string; header: string; signature: string; producer: string };
  proof: { index: number; leafCount: number; siblings: string[] };
}

const hex = (bytes?: number) =>
  z
    .string()
    .regex(
      bytes === undefined ? /^(?:[0-9a-f]{2})+$/ : new RegExp(`^[0-9a-f]{${bytes * 2}}$`),
      'lower-case hex',
    );

const inclusionProofSchema = z.object({
  transaction: z.object({ hash: hex(32), kind: z.string().min(1), position: z.number().int().nonnegative() }),
  block: z.object({
    height: z.string().regex(/^\d{1,19}$/),
    hash: hex(32),
    header: hex(),
    signature: hex(96),
    producer: z.string().min(1),
  }),
  proof: z.object({
    index: z.number().int().nonnegative(),
    leafCount: z.number().int().positive(),
    siblings: z.array(hex(32)).max(64),
  }),
});

export type InclusionCheck =
  | { ok: true; height: bigint; blockHash: string; producer: string; producerSignatureChecked: boolean }
  | { ok: false; reason: string };

export interface InclusionCheckOptions {
  /** Check against this header (hex) instead of the one inside the proof. */
  header?: string;
  /** Check the producer's signature over the header with this key (from the genesis or the registry). */
  producerKey?: (producer: string) => BlsPublicKey | undefined;
}

/** Checks an inclusion proof offline: header, block hash, producer signature if a key is given, Merkle path. */
export function checkInclusionProof(value: unknown, options: InclusionCheckOptions = {}): InclusionCheck {
  const parsed = inclusionProofSchema.safeParse(value);
  if (!parsed.success) {
    return {
      ok: false,
      reason: `not an inclusion proof: ${parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ')}`,
    };
  }
  const proof = parsed.data;
  const headerBytes = fromHex(options.header ?? proof.block.header, 'header');
  let header;
  try {
    header = decodeHeader(headerBytes);
  } catch (error) {
    return { ok: false, reason: `the header does not decode: ${(error as Error).message}` };
  }
  const signature = fromHex(proof.block.signature, 'signature', 96);
  const hash = toHex(blockHash(headerBytes, signature));
  if (hash !== proof.block.hash) {
    return { ok: false, reason: 'the block hash is not the hash of this header and signature' };
  }
  if (header.height.toString() !== proof.block.height || header.producer !== proof.block.producer) {
    return { ok: false, reason: 'the header does not carry the height and producer the proof names' };
  }
  let producerSignatureChecked = false;
  if (options.producerKey) {
    const key = options.producerKey(header.producer);
    if (!key) {
      return { ok: false, reason: `no public key known for the producer ${header.producer}` };
    }
    if (!verifyHeaderSignature(headerBytes, header.chainId, signature, key)) {
      return { ok: false, reason: `the header is not signed by ${header.producer}` };
    }
    producerSignatureChecked = true;
  }
  if (proof.proof.index !== proof.transaction.position || proof.proof.leafCount !== header.transactionCount) {
    return { ok: false, reason: "the proof's position or leaf count does not match the header" };
  }
  const path = {
    index: proof.proof.index,
    leafCount: proof.proof.leafCount,
    siblings: proof.proof.siblings.map((s) => fromHex(s, 'sibling', 32)),
  };
  if (!verifyMerkleProof(fromHex(proof.transaction.hash, 'hash', 32), path, header.transactionsRoot)) {
    return { ok: false, reason: "the Merkle path does not lead to the header's transactions root" };
  }
  return {
    ok: true,
    height: header.height,
    blockHash: hash,
    producer: header.producer,
    producerSignatureChecked,
  };
}
