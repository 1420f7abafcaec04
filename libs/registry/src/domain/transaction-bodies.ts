import { z } from 'zod';

import type { TxKind } from '@app/ledger';

/**
 * The body of each transaction kind the registry handles, as the sender signs it. Strict: an unknown
 * field is an error, not something silently ignored and then missing from what was checked.
 */
const identifier = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'must be an identifier (letters, digits, . _ : -)');
const g1Hex = z.string().regex(/^[0-9a-f]{96}$/, 'must be a 48-byte G1 point in lower-case hex');
const g2Hex = z.string().regex(/^[0-9a-f]{192}$/, 'must be a 96-byte G2 point in lower-case hex');
const reason = z.string().min(1).max(500);
const dimensionName = z.string().regex(/^[a-z][a-z0-9_]{0,62}$/, 'must be a lower-case name (a-z, 0-9, _)');

export const RECEIVER_ROLES = ['control-center', 'grid-operator', 'equipment-supplier', 'other'] as const;
export type ReceiverRole = (typeof RECEIVER_ROLES)[number];

export const meterRegisterBody = z
  .object({
    meterId: identifier,
    /** Y_S = x_S * P1. */
    publicKey: g1Hex,
    /** BLS proof of possession of x_S (the meter signs its own key). */
    possession: g2Hex,
    /** The v dimensions of every reading, in order. */
    dimensions: z.array(dimensionName).min(1).max(64),
    /** Which dimensions go to which receiver (each receiver learns only its own). */
    policy: z
      .array(z.object({ receiver: identifier, dimensions: z.array(dimensionName).min(1).max(64) }).strict())
      .min(1)
      .max(16),
    /** How long the meter keeps one D (DESIGN.md key epochs); maxReports 1 is the paper's per-report mode. */
    epoch: z
      .object({
        maxReports: z.number().int().min(1).max(10_000),
        maxAgeMs: z
          .number()
          .int()
          .min(0)
          .max(7 * 24 * 3_600_000),
      })
      .strict(),
    owner: z
      .object({
        name: z.string().min(1).max(200),
        /** The owner's phone endpoint: contract actions are pushed here (webhook). */
        notifyUrl: z.url({ protocol: /^https?$/ }).max(2_000),
        /**
         * The owner's BLS public key (compressed G1, hex): with it the owner deploys contracts for
         * this meter's devices (paper III.F), as the sender `owner:<meterId>`.
         */
        publicKey: z
          .string()
          .regex(/^[0-9a-f]{96}$/, 'must be a compressed BLS12-381 G1 point in lower-case hex')
          .optional(),
      })
      .strict(),
    location: z.string().max(200).optional(),
  })
  .strict();

export const meterRevokeBody = z.object({ meterId: identifier, reason }).strict();

export const receiverRegisterBody = z
  .object({
    receiverId: identifier,
    role: z.enum(RECEIVER_ROLES),
    publicKey: g1Hex,
    possession: g2Hex,
  })
  .strict();

export const receiverRevokeBody = z.object({ receiverId: identifier, reason }).strict();

export const delegateRegisterBody = z
  .object({ delegateId: identifier, publicKey: g1Hex, possession: g2Hex })
  .strict();

export const delegateRevokeBody = z.object({ delegateId: identifier, reason }).strict();

export const partialKeyBody = z
  .object({
    subject: z.enum(['meter', 'receiver']),
    identity: identifier,
    /** alpha = r * P1: the public half of the partial private key. */
    alpha: g1Hex,
  })
  .strict();

/** An organisation's ballot: its whole stake approves each delegate listed (it replaces its last ballot). */
export const voteBody = z
  .object({ approves: z.array(identifier).max(101) })
  .strict()
  .refine((b) => new Set(b.approves).size === b.approves.length, { error: 'a delegate is approved twice' });

/**
 * One contract's result for one meter: enough for anyone to re-run the contract on the same input and
 * compare (paper V; issue 6).
 */
export const contractResultEntry = z
  .object({
    // Contract ids may hold '/' (grid-operator/feedback), as @app/contracts names them.
    contractId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/, 'must be a contract id'),
    contractVersion: z.number().int().min(1).max(1_000_000),
    /**
     * Whose contract it is: the signing organisation's own, or the meter's owner's (`owner:<meter>`).
     * A contract id is its owner's name, so (owner, id, version) names the document to re-run. Absent
     * in results sent before ids were scoped by owner, when an id alone named it.
     */
    contractOwner: identifier.optional(),
    meterId: identifier,
    /** What triggered it (report:<id hex>), unique per contract. */
    trigger: z.string().regex(/^[a-z]+:[0-9a-f]{64}$/, 'must be <kind>:<64 lower-case hex characters>'),
    /** The evaluation's input, exactly as evaluated. */
    input: z.record(z.string().max(64), z.union([z.number(), z.string().max(200), z.boolean()])),
    resultHash: z.string().regex(/^[0-9a-f]{64}$/, 'must be a SHA-256 hash in lower-case hex'),
    actions: z
      .array(
        z
          .object({
            id: z.string().regex(/^[A-Za-z0-9:._-]{1,200}$/, 'must be an action id'),
            type: z.string().regex(/^[a-z][a-z0-9-]{0,63}$/),
            message: z.string().max(500),
          })
          .strict(),
      )
      .max(16),
  })
  .strict();

/** Results in one contract.result transaction at most (the body's byte limit usually binds first). */
export const MAX_CONTRACT_RESULTS_PER_TX = 256;

/**
 * Contract results published by the receiver organisation that ran them, as many as fit in one
 * transaction: a result per report, each its own signed transaction, cost the consortium a signature
 * check per result on every node, more than the report itself.
 */
export const contractResultBody = z
  .object({
    receiverId: identifier,
    results: z.array(contractResultEntry).min(1).max(MAX_CONTRACT_RESULTS_PER_TX),
  })
  .strict()
  .refine(
    (b) => new Set(b.results.map((r) => `${r.contractId}\u0000${r.trigger}`)).size === b.results.length,
    { error: 'a contract result is in the body twice (same contract and trigger)' },
  );

/**
 * A receiver's processed results, published back to the chain (paper III.D-E): what it is about, the
 * window of readings it covers, the SHA-256 of the full content (canonical JSON, kept by the receiver
 * and served to whoever may read it), and a short summary that anyone on the chain can read.
 */
export const receiverPublicationBody = z
  .object({
    receiverId: identifier,
    subject: z.enum(['theft-suspects', 'device-report', 'data-recovery', 'key-users']),
    from: z.number().int().min(0),
    to: z.number().int().min(0),
    contentHash: z.string().regex(/^[0-9a-f]{64}$/, 'must be a SHA-256 hash in lower-case hex'),
    summary: z
      .array(z.object({ id: identifier, codes: z.array(z.string().max(64)).max(16) }).strict())
      .max(200),
  })
  .strict()
  .refine((b) => b.from <= b.to, { error: 'from must not be after to' });

/** A contract (a declarative rule set, @app/contracts) deployed for one of the sender's receivers. */
export const contractDeployBody = z
  .object({ receiverId: identifier, contract: z.record(z.string(), z.unknown()) })
  .strict();

export type MeterRegisterBody = z.infer<typeof meterRegisterBody>;
export type ReceiverPublicationBody = z.infer<typeof receiverPublicationBody>;
export type ContractResultBody = z.infer<typeof contractResultBody>;
export type ContractResultEntry = z.infer<typeof contractResultEntry>;
export type MeterRevokeBody = z.infer<typeof meterRevokeBody>;
export type ReceiverRegisterBody = z.infer<typeof receiverRegisterBody>;
export type ReceiverRevokeBody = z.infer<typeof receiverRevokeBody>;
export type DelegateRegisterBody = z.infer<typeof delegateRegisterBody>;
export type DelegateRevokeBody = z.infer<typeof delegateRevokeBody>;
export type PartialKeyBody = z.infer<typeof partialKeyBody>;
export type VoteBody = z.infer<typeof voteBody>;

export const REGISTRY_BODIES = {
  'meter.register': meterRegisterBody,
  'meter.revoke': meterRevokeBody,
  'receiver.register': receiverRegisterBody,
  'receiver.revoke': receiverRevokeBody,
  'delegate.register': delegateRegisterBody,
  'delegate.revoke': delegateRevokeBody,
  'cc.partial-key': partialKeyBody,
  vote: voteBody,
  'contract.result': contractResultBody,
  'receiver.publication': receiverPublicationBody,
  'contract.deploy': contractDeployBody,
} as const satisfies Partial<Record<TxKind, z.ZodType>>;

export type RegistryTxKind = keyof typeof REGISTRY_BODIES;

export function isRegistryKind(kind: string): kind is RegistryTxKind {
  return kind in REGISTRY_BODIES;
}

/** A registry transaction's body as its kind's schema gave it; `kind` narrows `body`. */
export type ParsedRegistryBody = {
  [K in RegistryTxKind]: { readonly kind: K; readonly body: z.output<(typeof REGISTRY_BODIES)[K]> };
}[RegistryTxKind];

/**
 * Checks a body against its kind's schema, once: a node decides each transaction at admission, in
 * the blocks it makes and in those it checks, and a contract result's schema costs about 10 us for
 * each of its results.
 */
export function parseRegistryBody(
  kind: RegistryTxKind,
  body: unknown,
): { success: true; parsed: ParsedRegistryBody } | { success: false; error: z.ZodError } {
  const result = REGISTRY_BODIES[kind].safeParse(body);
  return result.success
    ? { success: true, parsed: { kind, body: result.data } as ParsedRegistryBody }
    : { success: false, error: result.error };
}

/** The organisation role each kind requires of its sender. */
export const REQUIRED_ROLE: Record<RegistryTxKind, string> = {
  'meter.register': 'meter-registrar',
  'meter.revoke': 'meter-registrar',
  'receiver.register': 'receiver',
  'receiver.revoke': 'receiver',
  'delegate.register': 'delegate-operator',
  'delegate.revoke': 'delegate-operator',
  'cc.partial-key': 'control-center',
  // Any member may vote; its stake is its weight (zero stake, zero weight).
  vote: 'member',
  'contract.result': 'receiver',
  'receiver.publication': 'receiver',
  'contract.deploy': 'receiver',
};
