import { DomainError } from '@app/kernel';

/** A transaction or registration refused by the registry's rules; `code` says which rule. */
export class RegistryError extends DomainError {
  constructor(
    readonly code: string,
    message: string,
    details: Record<string, unknown> = {},
  ) {
    super(message, details);
  }
}

export const RegistryErrors = {
  unknownSender: (sender: string) =>
    new RegistryError('TX.UNKNOWN_SENDER', `organisation ${sender} is not a member of this consortium`, {
      sender,
    }),
  badSignature: (sender: string) =>
    new RegistryError('TX.BAD_SIGNATURE', `the signature is not ${sender}'s`, { sender }),
  wrongChain: (chainId: string, expected: string) =>
    new RegistryError('TX.WRONG_CHAIN', `the transaction is for chain ${chainId}, this is ${expected}`, {
      chainId,
    }),
  stale: (timestamp: number, windowMs: number) =>
    new RegistryError(
      'TX.STALE',
      `timestamp ${new Date(timestamp).toISOString()} is older than the ${windowMs} ms window`,
      { timestamp },
    ),
  future: (timestamp: number) =>
    new RegistryError('TX.FUTURE', `timestamp ${new Date(timestamp).toISOString()} is in the future`, {
      timestamp,
    }),
  notAllowed: (sender: string, kind: string, role: string) =>
    new RegistryError('TX.NOT_ALLOWED', `${sender} may not send ${kind}: it needs the ${role} role`, {
      sender,
      kind,
      role,
    }),
  invalidBody: (kind: string, problems: string) =>
    new RegistryError('TX.INVALID_BODY', `${kind}: ${problems}`, { kind }),
  alreadyRegistered: (what: string, id: string) =>
    new RegistryError('REGISTRY.ALREADY_REGISTERED', `${what} ${id} is already registered`, { id }),
  unknown: (what: string, id: string) => new RegistryError('REGISTRY.UNKNOWN', `no ${what} ${id}`, { id }),
  revoked: (what: string, id: string) =>
    new RegistryError('REGISTRY.REVOKED', `${what} ${id} is revoked`, { id }),
  badKey: (what: string, reason: string) => new RegistryError('REGISTRY.BAD_KEY', `${what}: ${reason}`, {}),
  notYours: (sender: string, what: string, id: string) =>
    new RegistryError('TX.NOT_ALLOWED', `${sender} does not own ${what} ${id}`, { sender, id }),
  badPolicy: (reason: string) => new RegistryError('REGISTRY.BAD_POLICY', reason),
  alreadyActive: (what: string, id: string) =>
    new RegistryError('REGISTRY.ALREADY_ACTIVE', `${what} ${id} already has its partial key`, { id }),
};
