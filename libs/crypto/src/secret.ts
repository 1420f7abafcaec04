import { inspect } from 'node:util';

import { expectLength } from './bytes';
import { ScalarOutOfRangeError } from './errors';
import { FR_BYTES, mcl, ready } from './mcl';
import { randomScalar, RandomSource, systemRandom } from './random';

export const REDACTED = '[secret redacted]';

// Module-private accessors, assigned in the class's static block (which can reach #fr and the
// private constructor) and exported only as internal functions below, never through index.ts.
let frOf: (secret: SecretScalar) => mcl.Fr;
let constructSecret: (fr: mcl.Fr) => SecretScalar;

/**
 * A secret scalar (master key x, own keys x_S / x_R, partial key h, BLS secret key). Opaque: the
 * value sits in a #private field, and util.inspect, console.log, JSON.stringify, String() and
 * template literals all print a redacted marker, so a secret cannot reach a log by accident. The only
 * way out is the explicitly named `exposeBytes()`, used to seal a keystore or hand a key to a worker.
 */
export class SecretScalar {
  readonly #fr: mcl.Fr;

  static {
    frOf = (secret) => secret.#fr;
    constructSecret = (fr) => new SecretScalar(fr);
  }

  private constructor(fr: mcl.Fr) {
    this.#fr = fr;
  }

  /** A fresh uniformly random secret from the OS CSPRNG. */
  static random(): SecretScalar {
    ready();
    return new SecretScalar(randomScalar(systemRandom));
  }

  /** 32 bytes, big-endian, in [1, q-1]; anything else is a typed error. */
  static fromBytes(bytes: Uint8Array, what = 'secret key'): SecretScalar {
    ready();
    expectLength(bytes, FR_BYTES, what);
    const fr = new mcl.Fr();
    try {
      fr.deserialize(bytes);
    } catch {
      throw new ScalarOutOfRangeError(what);
    }
    if (fr.isZero()) {
      throw new ScalarOutOfRangeError(what);
    }
    return new SecretScalar(fr);
  }

  /** The big-endian bytes. Named loudly on purpose: call it only to seal or transfer the key. */
  exposeBytes(): Uint8Array {
    return this.#fr.serialize();
  }

  /** Overwrite the value in memory; the object is unusable afterwards. */
  destroy(): void {
    this.#fr.clear();
  }

  [inspect.custom](): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  toString(): string {
    return REDACTED;
  }

  [Symbol.toPrimitive](): string {
    return REDACTED;
  }
}

/** Internal: wrap a scalar computed inside the library. */
export function secretFromFr(fr: mcl.Fr): SecretScalar {
  return constructSecret(fr);
}

/** Internal: the scalar inside a secret, for the library's own arithmetic. Never exported by index.ts. */
export function scalarOf(secret: SecretScalar): mcl.Fr {
  return frOf(secret);
}

/** Internal: a random secret from a given source (the seeded one in the library's tests). */
export function randomSecretWithRandom(rng: RandomSource): SecretScalar {
  ready();
  return constructSecret(randomScalar(rng));
}
