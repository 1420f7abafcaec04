import { DomainError } from '@app/kernel';

/** A refused call: 401 when who is calling is unknown or unproven, 403 when they may not do this. */
export class AuthError extends DomainError {
  readonly status: 401 | 403;

  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.status = code === 'AUTH.FORBIDDEN' ? 403 : 401;
  }
}
