import { InvalidIdentifierError } from './errors';

/** Longest meter or receiver identifier, in bytes (ASCII, so also in characters). */
export const MAX_ID_BYTES = 64;

/**
 * Identifiers are printable ASCII from a small alphabet, so that their bytes are their characters:
 * no Unicode normalisation question can make two spellings of one ID hash differently.
 */
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$/;

export function assertIdentifier(id: string, what: string): void {
  if (typeof id !== 'string' || !ID_RE.test(id)) {
    throw new InvalidIdentifierError(
      what,
      `must be 1..${MAX_ID_BYTES} characters of [A-Za-z0-9._:@-], starting with a letter or digit`,
    );
  }
}
