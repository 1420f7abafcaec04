/**
 * Base of every error the domain throws on purpose. `code` is stable (clients and tests match on it);
 * `details` is safe to show to the caller and to log, so it must never carry secrets.
 */
export abstract class DomainError extends Error {
  abstract readonly code: string;

  constructor(
    message: string,
    readonly details: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** The kind of failure, which the transports map to a status (HTTP 409, 400, ...). */
export type ErrorKind = 'conflict' | 'invalid' | 'not-found' | 'forbidden' | 'unavailable' | 'internal';

export class ConcurrencyError extends DomainError {
  readonly code = 'EVENT_STORE.CONCURRENCY_CONFLICT';

  constructor(
    readonly streamId: string,
    readonly expectedVersion: number,
    readonly actualVersion: number,
  ) {
    super(`stream "${streamId}" is at version ${actualVersion}, the append expected ${expectedVersion}`, {
      streamId,
      expectedVersion,
      actualVersion,
    });
  }
}

export class InvalidInputError extends DomainError {
  readonly code: string;

  constructor(code: string, message: string, details: Record<string, unknown> = {}) {
    super(message, details);
    this.code = code;
  }
}
