import { CryptoError } from '../src/errors';

/** The error `fn` throws (fails the test when it throws nothing or something that is not a CryptoError). */
export function cryptoErrorOf(fn: () => unknown): CryptoError {
  try {
    fn();
  } catch (e) {
    if (e instanceof CryptoError) {
      return e;
    }
    throw e;
  }
  throw new Error('expected a CryptoError, nothing was thrown');
}

export async function cryptoErrorOfAsync(fn: () => Promise<unknown>): Promise<CryptoError> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof CryptoError) {
      return e;
    }
    throw e;
  }
  throw new Error('expected a CryptoError, nothing was thrown');
}

export function expectCode(fn: () => unknown, code: string): void {
  expect(cryptoErrorOf(fn).code).toBe(code);
}
