import {
  BLS_TAGS,
  blsAggregateSignatures,
  blsFastAggregateVerify,
  type BlsPublicKey,
  blsSignAggregate,
  ByteReader,
  ByteWriter,
  CryptoError,
  type SecretScalar,
} from '@app/crypto';
import { InvalidInputError } from '@app/kernel';

/**
 * Votes and quorum certificates (DESIGN.md section 4, finality). Every delegate of a round's elected
 * set signs, with BLS, a vote on each block it has validated:
 *
 *   vote message = u64 height | 32 block hash        (tag CBSG-VOTE-V1, chain id)
 *
 * More than two thirds of the set's votes on one block, aggregated, make its quorum certificate:
 *
 *   certificate = u64 height | 32 block hash | u64 round | u16 n | ceil(n/8) bitmap | 96 signature
 *
 * where bit i (most significant first) says whether the i-th delegate of the round's elected set
 * (in the set's canonical order: sorted by id) signed. Keys were admitted with a proof of possession,
 * so verifying the aggregate against the sum of the signers' keys is safe against rogue keys.
 *
 * A vote may stand for several delegates: a node sends the votes of the delegates it hosts as one
 * aggregate signature with their ids (signVote). It is exactly the sum of their own signatures, so
 * certificates do not change; the node signs with one multiplication instead of one per delegate, and
 * its peers decode and check one point instead of one per delegate.
 */
export interface QuorumCertificate {
  height: bigint;
  blockHash: Uint8Array;
  /** The round whose elected set voted. */
  round: bigint;
  /** Size of the elected set the bitmap refers to. */
  setSize: number;
  signers: Uint8Array;
  signature: Uint8Array;
}

export interface Vote {
  height: bigint;
  blockHash: Uint8Array;
  /** The delegates whose signatures `signature` aggregates: at least one, each once. */
  voters: readonly string[];
  signature: Uint8Array;
}

/** The most voters one vote may name: more than any elected set. */
export const MAX_VOTERS_PER_VOTE = 1_000;

export class QuorumError extends InvalidInputError {
  constructor(message: string) {
    super('QUORUM.INVALID', message);
  }
}

export function voteMessage(height: bigint, blockHash: Uint8Array): Uint8Array {
  if (blockHash.length !== 32) {
    throw new QuorumError('a block hash is 32 bytes');
  }
  return new ByteWriter(40).u64(height).fixed(blockHash).finish();
}

/** The vote of one or more delegates on a block, as one aggregate signature. */
export function signVote(
  voters: ReadonlyArray<{ id: string; key: SecretScalar }>,
  chainId: string,
  height: bigint,
  blockHash: Uint8Array,
): Vote {
  const ids = voters.map((v) => v.id);
  if (ids.length === 0 || new Set(ids).size !== ids.length) {
    throw new QuorumError('a vote names at least one voter, each once');
  }
  return {
    height,
    blockHash,
    voters: ids,
    signature: blsSignAggregate(
      voters.map((v) => v.key),
      { tag: BLS_TAGS.vote, chainId },
      voteMessage(height, blockHash),
    ),
  };
}

/** `voterKeys` in the order of vote.voters. */
export function verifyVote(vote: Vote, chainId: string, voterKeys: readonly BlsPublicKey[]): boolean {
  return blsFastAggregateVerify(
    voterKeys,
    { tag: BLS_TAGS.vote, chainId },
    voteMessage(vote.height, vote.blockHash),
    vote.signature,
  );
}

/** Why a vote's list of voters cannot be taken as it is, if it cannot. */
export function votersProblem(voters: readonly unknown[]): string | undefined {
  if (voters.length === 0 || voters.length > MAX_VOTERS_PER_VOTE) {
    return `a vote names 1 to ${MAX_VOTERS_PER_VOTE} voters`;
  }
  if (voters.some((v) => typeof v !== 'string' || v.length === 0 || v.length > 128)) {
    return 'each voter is a delegate id';
  }
  if (new Set(voters).size !== voters.length) {
    return 'a vote names each voter once';
  }
  return undefined;
}

/**
 * Checks the votes on one block together: one aggregate signature against the sum of the voters'
 * keys (safe, as for certificates: every delegate key came with a proof of possession), so a block's
 * votes cost one pairing check instead of one each. Only when the aggregate fails is each vote checked
 * alone, to name the bad ones. Returns the votes that do not hold: on another block, from an unknown
 * voter, or with a bad signature.
 */
export function invalidVotes(
  votes: readonly Vote[],
  block: { height: bigint; hash: Uint8Array },
  chainId: string,
  keyOf: (voter: string) => BlsPublicKey | undefined,
): Vote[] {
  const bad: Vote[] = [];
  const keyed: Array<{ vote: Vote; keys: BlsPublicKey[] }> = [];
  for (const vote of votes) {
    const keys = vote.voters.flatMap((voter) => keyOf(voter) ?? []);
    if (
      votersProblem(vote.voters) !== undefined ||
      keys.length !== vote.voters.length ||
      vote.height !== block.height ||
      !Buffer.from(vote.blockHash).equals(Buffer.from(block.hash))
    ) {
      bad.push(vote);
    } else {
      keyed.push({ vote, keys });
    }
  }
  if (keyed.length === 0) {
    return bad;
  }
  let aggregate: Uint8Array | undefined;
  try {
    aggregate = blsAggregateSignatures(keyed.map((k) => k.vote.signature));
  } catch (error) {
    if (!(error instanceof CryptoError)) {
      throw error;
    }
  }
  if (
    aggregate &&
    blsFastAggregateVerify(
      keyed.flatMap((k) => k.keys),
      { tag: BLS_TAGS.vote, chainId },
      voteMessage(block.height, block.hash),
      aggregate,
    )
  ) {
    return bad;
  }
  return [...bad, ...keyed.filter(({ vote, keys }) => !verifyVote(vote, chainId, keys)).map((k) => k.vote)];
}

/** Strictly more than two thirds of `setSize`. */
export function isQuorum(count: number, setSize: number): boolean {
  return setSize > 0 && 3 * count > 2 * setSize;
}

/** Strictly more than half of `base` among `signers`. */
export function holdsBaseMajority(signers: readonly string[], base: readonly string[]): boolean {
  const members = new Set(base);
  return 2 * signers.filter((id) => members.has(id)).length > base.length;
}

export function quorumSize(setSize: number): number {
  return Math.floor((2 * setSize) / 3) + 1;
}

/**
 * Aggregates votes (each already verified) into a certificate. `electedSet` is the round's set in
 * canonical order; a vote naming anyone outside it, or anyone an earlier vote counted already, is left
 * out whole (its signature cannot be split). Returns undefined below a quorum.
 */
export function aggregateVotes(
  votes: readonly Vote[],
  electedSet: readonly string[],
  round: bigint,
  base: readonly string[] = electedSet,
): QuorumCertificate | undefined {
  const first = votes[0];
  if (!first) {
    return undefined;
  }
  const position = new Map(electedSet.map((id, i) => [id, i]));
  const signers = new Uint8Array(Math.ceil(electedSet.length / 8));
  const signatures: Uint8Array[] = [];
  const voters: string[] = [];
  const isSet = (i: number) => (signers[i >> 3]! & (0x80 >> (i % 8))) !== 0;
  for (const vote of votes) {
    const indices = vote.voters.map((voter) => position.get(voter));
    if (
      indices.length === 0 ||
      indices.some((i) => i === undefined || isSet(i)) ||
      new Set(indices).size !== indices.length ||
      vote.height !== first.height ||
      !Buffer.from(vote.blockHash).equals(Buffer.from(first.blockHash))
    ) {
      continue;
    }
    for (const i of indices as number[]) {
      signers[i >> 3]! |= 0x80 >> (i % 8);
    }
    signatures.push(vote.signature);
    voters.push(...vote.voters);
  }
  if (!isQuorum(voters.length, electedSet.length) || !holdsBaseMajority(voters, base)) {
    return undefined;
  }
  return {
    height: first.height,
    blockHash: first.blockHash,
    round,
    setSize: electedSet.length,
    signers,
    signature: blsAggregateSignatures(signatures),
  };
}

export function signersOf(certificate: QuorumCertificate, electedSet: readonly string[]): string[] {
  const out: string[] = [];
  electedSet.forEach((id, i) => {
    if ((certificate.signers[i >> 3] ?? 0) & (0x80 >> (i % 8))) {
      out.push(id);
    }
  });
  return out;
}

/**
 * Checks a certificate against the elected set of its round (ids in canonical order, with their
 * registered keys): the right size, no stray bits, a quorum of signers, a valid aggregate signature.
 * Returns the reason when it does not hold.
 */
export function checkQuorumCertificate(
  certificate: QuorumCertificate,
  chainId: string,
  electedSet: ReadonlyArray<{ id: string; publicKey: BlsPublicKey }>,
  base: readonly string[] = electedSet.map((d) => d.id),
): string | undefined {
  if (certificate.setSize !== electedSet.length) {
    return `the certificate counts ${certificate.setSize} voters, round ${certificate.round} elected ${electedSet.length}`;
  }
  if (certificate.signers.length !== Math.ceil(electedSet.length / 8)) {
    return 'the signer bitmap has the wrong length';
  }
  const spare = certificate.signers.length * 8 - electedSet.length;
  if (spare > 0 && ((certificate.signers[certificate.signers.length - 1] ?? 0) & ((1 << spare) - 1)) !== 0) {
    return 'the signer bitmap marks voters beyond the elected set';
  }
  const signers = electedSet.filter((_, i) => (certificate.signers[i >> 3] ?? 0) & (0x80 >> (i % 8)));
  if (!isQuorum(signers.length, electedSet.length)) {
    return `${signers.length} of ${electedSet.length} voters is not more than two thirds`;
  }
  if (
    !holdsBaseMajority(
      signers.map((s) => s.id),
      base,
    )
  ) {
    return `the signers are not more than half of the ${base.length} delegates the stake elected`;
  }
  const ok = blsFastAggregateVerify(
    signers.map((s) => s.publicKey),
    { tag: BLS_TAGS.vote, chainId },
    voteMessage(certificate.height, certificate.blockHash),
    certificate.signature,
  );
  return ok ? undefined : 'the aggregate signature does not verify';
}

/** Largest encoding of a certificate: its set size is a u16, so its bitmap takes at most 8,192 bytes. */
export const MAX_QUORUM_CERTIFICATE_BYTES = 8 + 32 + 8 + 2 + Math.ceil(0xffff / 8) + 96;

export function encodeQuorumCertificate(certificate: QuorumCertificate): Uint8Array {
  if (certificate.signature.length !== 96 || certificate.blockHash.length !== 32) {
    throw new QuorumError('malformed certificate');
  }
  return new ByteWriter(160)
    .u64(certificate.height)
    .fixed(certificate.blockHash)
    .u64(certificate.round)
    .u16(certificate.setSize)
    .fixed(certificate.signers)
    .fixed(certificate.signature)
    .finish();
}

export function decodeQuorumCertificate(bytes: Uint8Array): QuorumCertificate {
  try {
    const reader = new ByteReader(bytes, 'quorum certificate');
    const height = reader.u64('height');
    const blockHash = reader.fixed(32, 'block hash');
    const round = reader.u64('round');
    const setSize = reader.u16('set size');
    const signers = reader.fixed(Math.ceil(setSize / 8), 'signers');
    const signature = reader.fixed(96, 'signature');
    reader.end();
    return { height, blockHash, round, setSize, signers, signature };
  } catch (error) {
    throw new QuorumError(`quorum certificate: ${(error as Error).message}`);
  }
}
