import { hash } from 'node:crypto';

import { z } from 'zod';

import { BlsPublicKey, blsVerifyPossession, fromHex, SystemParams } from '@app/crypto';
import { canonicalJson, InvalidInputError } from '@app/kernel';

/**
 * The genesis document: what every node of a consortium agrees on before the first block (DESIGN.md
 * section 3). It names the chain, carries the control center's public parameters, the member
 * organisations with their signing keys and roles, the initial delegates, and the consensus settings.
 * Its hash (SHA-256 of "CBSG-GENESIS-V1" | canonical JSON) is the parent of block 1.
 */
export const ORGANISATION_ROLES = [
  'control-center',
  'grid-operator',
  'equipment-supplier',
  'meter-registrar',
  'delegate-operator',
  'receiver',
] as const;
export type OrganisationRole = (typeof ORGANISATION_ROLES)[number];

const identifier = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'must be an identifier (letters, digits, . _ : -)');
const g1Hex = z.string().regex(/^[0-9a-f]{96}$/, 'must be a 48-byte G1 point in hex');
const g2Hex = z.string().regex(/^[0-9a-f]{192}$/, 'must be a 96-byte G2 point in hex');

export const genesisSchema = z
  .object({
    version: z.literal(1),
    chainId: identifier,
    createdAt: z.number().int().nonnegative(),
    systemParams: z.unknown(),
    organisations: z
      .array(
        z
          .object({
            id: identifier,
            name: z.string().min(1).max(200),
            roles: z.array(z.enum(ORGANISATION_ROLES)).min(1),
            publicKey: g1Hex,
            proofOfPossession: g2Hex,
            stake: z.number().int().nonnegative(),
          })
          .strict(),
      )
      .min(1),
    delegates: z
      .array(
        z
          .object({
            id: identifier,
            organisation: identifier,
            publicKey: g1Hex,
            proofOfPossession: g2Hex,
          })
          .strict(),
      )
      .min(1),
    /** The accounting nodes: they sign their messages to each other with these keys. */
    nodes: z
      .array(
        z
          .object({
            id: identifier,
            organisation: identifier,
            publicKey: g1Hex,
            proofOfPossession: g2Hex,
          })
          .strict(),
      )
      .min(1),
    consensus: z
      .object({
        /** Producers per round (the paper uses 101). */
        producers: z.number().int().min(1).max(1000),
        slotMs: z.number().int().min(100).max(60_000),
        // What makes a block valid must be the same on every node, so it is the consortium's, not a
        // node's setting. Each is optional (blockRulesOf gives the defaults), which keeps the hash of
        // a genesis written before they existed.
        /** Entries (reports and transactions) a block may hold. */
        maxBlockTransactions: z.number().int().min(1).max(100_000).optional(),
        /** How much older than its block a report or transaction may be. */
        entryWindowMs: z
          .number()
          .int()
          .min(1_000)
          .max(7 * 24 * 3_600_000)
          .optional(),
        /** How much later than its block a report or transaction may be stamped (clock skew). */
        futureSkewMs: z.number().int().min(0).max(3_600_000).optional(),
      })
      .strict(),
  })
  .strict();

export type GenesisDocument = z.infer<typeof genesisSchema>;

/** The rules every node checks a block's size and its entries' timestamps against. */
export interface BlockRules {
  maxBlockTransactions: number;
  entryWindowMs: number;
  futureSkewMs: number;
}

/**
 * The defaults of a genesis that names no block rules: the widest that a node's own settings
 * (MAX_BLOCK_TRANSACTIONS aside) allow, so that no honest producer's block is refused by them. A
 * node's intake keeps its own, stricter window (ACCEPT_WINDOW_MS). Blocks hold at most 10,000
 * entries: from about 11,000 reports on, a block no longer fits the 16 MB a peer message carries.
 */
export const DEFAULT_BLOCK_RULES: Readonly<BlockRules> = Object.freeze({
  maxBlockTransactions: 10_000,
  entryWindowMs: 7 * 24 * 3_600_000,
  futureSkewMs: 3_600_000,
});

export function blockRulesOf(document: GenesisDocument): BlockRules {
  const { maxBlockTransactions, entryWindowMs, futureSkewMs } = document.consensus;
  return {
    maxBlockTransactions: maxBlockTransactions ?? DEFAULT_BLOCK_RULES.maxBlockTransactions,
    entryWindowMs: entryWindowMs ?? DEFAULT_BLOCK_RULES.entryWindowMs,
    futureSkewMs: futureSkewMs ?? DEFAULT_BLOCK_RULES.futureSkewMs,
  };
}

export class GenesisInvalidError extends InvalidInputError {
  constructor(message: string) {
    super('GENESIS.INVALID', message);
  }
}

export interface Genesis {
  document: GenesisDocument;
  hash: Uint8Array;
  params: SystemParams;
}

/** Parses and checks a genesis document: schema, unique ids, one control center, every key's proof of possession. */
export function loadGenesis(value: unknown): Genesis {
  const parsed = genesisSchema.safeParse(value);
  if (!parsed.success) {
    throw new GenesisInvalidError(
      parsed.error.issues
        .map((issue) => `${issue.path.join('.') || '(document)'} ${issue.message}`)
        .join('; '),
    );
  }
  const document = parsed.data;
  let params: SystemParams;
  try {
    params = SystemParams.fromJSON(document.systemParams);
  } catch (error) {
    throw new GenesisInvalidError(`systemParams: ${(error as Error).message}`);
  }
  const ids = new Set<string>();
  for (const org of document.organisations) {
    if (ids.has(org.id)) {
      throw new GenesisInvalidError(`organisation ${org.id} appears twice`);
    }
    ids.add(org.id);
    checkPossession(`organisation ${org.id}`, org.publicKey, org.proofOfPossession);
  }
  const centers = document.organisations.filter((o) => o.roles.includes('control-center'));
  if (centers.length !== 1) {
    throw new GenesisInvalidError(
      `exactly one organisation must have the control-center role (found ${centers.length})`,
    );
  }
  const delegates = new Set<string>();
  for (const delegate of document.delegates) {
    if (delegates.has(delegate.id)) {
      throw new GenesisInvalidError(`delegate ${delegate.id} appears twice`);
    }
    delegates.add(delegate.id);
    if (!ids.has(delegate.organisation)) {
      throw new GenesisInvalidError(
        `delegate ${delegate.id} names an unknown organisation ${delegate.organisation}`,
      );
    }
    checkPossession(`delegate ${delegate.id}`, delegate.publicKey, delegate.proofOfPossession);
  }
  const nodes = new Set<string>();
  for (const node of document.nodes) {
    if (nodes.has(node.id)) {
      throw new GenesisInvalidError(`node ${node.id} appears twice`);
    }
    nodes.add(node.id);
    if (!ids.has(node.organisation)) {
      throw new GenesisInvalidError(`node ${node.id} names an unknown organisation ${node.organisation}`);
    }
    checkPossession(`node ${node.id}`, node.publicKey, node.proofOfPossession);
  }
  if (document.consensus.producers > document.delegates.length) {
    throw new GenesisInvalidError(
      `consensus.producers (${document.consensus.producers}) exceeds the ${document.delegates.length} initial delegates`,
    );
  }
  return { document, hash: genesisHash(document), params };
}

export function genesisHash(document: GenesisDocument): Uint8Array {
  return hash(
    'sha256',
    Buffer.concat([Buffer.from('CBSG-GENESIS-V1', 'utf8'), Buffer.from(canonicalJson(document), 'utf8')]),
    'buffer',
  );
}

function checkPossession(what: string, publicKeyHex: string, proofHex: string): void {
  let ok: boolean;
  try {
    ok = blsVerifyPossession(
      BlsPublicKey.fromBytes(fromHex(publicKeyHex, `${what} public key`, 48)),
      fromHex(proofHex, 'proof', 96),
    );
  } catch (error) {
    throw new GenesisInvalidError(`${what}: ${(error as Error).message}`);
  }
  if (!ok) {
    throw new GenesisInvalidError(`${what}: the proof of possession does not match the public key`);
  }
}

/** The control center's organisation id. */
export function controlCenterOf(document: GenesisDocument): string {
  return document.organisations.find((o) => o.roles.includes('control-center'))!.id;
}
