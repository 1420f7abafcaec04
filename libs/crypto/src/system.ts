import { concatBytes, expectLength, fromHex, toHex } from './bytes';
import {
  KeyMismatchError,
  MalformedEncodingError,
  PartialKeyInvalidError,
  SystemParamsInconsistentError,
} from './errors';
import { h1, h3 } from './hash';
import { assertIdentifier } from './ids';
import { G1_BYTES, G2_BYTES, mcl, precomputeLines, ready } from './mcl';
import { decodeG1, decodeG2, encodeG1, encodeG2, PointCheck } from './points';
import { randomScalar, RandomSource, systemRandom } from './random';
import { randomSecretWithRandom, scalarOf, SecretScalar, secretFromFr } from './secret';

/** Decoded system parameters, for the library's own arithmetic. */
export interface SystemPoints {
  readonly ypub1: mcl.G1;
  readonly ypub2: mcl.G2;
  readonly q: mcl.G2;
  /** Miller-loop lines of Q: every verification pairs something with Q. */
  readonly qLines: mcl.PrecomputedG2;
}

let pointsOf: (params: SystemParams) => SystemPoints;
let paramsFromPoints: (y1: mcl.G1, y2: mcl.G2) => SystemParams;

/**
 * The CC's public parameters: Ypub1 = x*P1, Ypub2 = x*P2 and Q = H3(Ypub). Decoded and checked once
 * (both points in full, and one pairing equation tying them to the same x), then kept.
 */
export class SystemParams {
  readonly #points: SystemPoints;

  static {
    pointsOf = (params) => params.#points;
    paramsFromPoints = (y1, y2) => new SystemParams(encodeG1(y1), encodeG2(y2), y1, y2);
  }

  private constructor(
    /** Ypub1, compressed G1 (48 bytes). */
    readonly ypub1: Uint8Array,
    /** Ypub2, compressed G2 (96 bytes). */
    readonly ypub2: Uint8Array,
    ypub1Point: mcl.G1,
    ypub2Point: mcl.G2,
  ) {
    const q = h3(ypub1, ypub2);
    this.#points = { ypub1: ypub1Point, ypub2: ypub2Point, q, qLines: precomputeLines(this, q) };
  }

  /**
   * Parameters from outside (a chain transaction, a config file): 144 bytes, Ypub1 || Ypub2. Both
   * points are checked in full and e(Ypub1, P2) == e(P1, Ypub2) must hold.
   */
  static fromBytes(bytes: Uint8Array): SystemParams {
    return SystemParams.decode(bytes, 'full');
  }

  /** Parameters read back from our own storage, checked when they were first accepted. */
  static fromTrustedBytes(bytes: Uint8Array): SystemParams {
    return SystemParams.decode(bytes, 'trusted');
  }

  private static decode(bytes: Uint8Array, check: PointCheck): SystemParams {
    const { P1, P2 } = ready();
    expectLength(bytes, G1_BYTES + G2_BYTES, 'system parameters');
    const ypub1 = bytes.slice(0, G1_BYTES);
    const ypub2 = bytes.slice(G1_BYTES);
    const y1 = decodeG1(ypub1, 'Ypub1', check);
    const y2 = decodeG2(ypub2, 'Ypub2', check);
    if (check === 'full') {
      const e = mcl.finalExp(mcl.mul(mcl.millerLoop(y1, P2), mcl.millerLoop(mcl.neg(P1), y2)));
      if (!e.isOne()) {
        throw new SystemParamsInconsistentError();
      }
    }
    return new SystemParams(ypub1, ypub2, y1, y2);
  }

  /** Q = H3(Ypub), compressed G2. */
  get q(): Uint8Array {
    return encodeG2(this.#points.q);
  }

  toBytes(): Uint8Array {
    return concatBytes(this.ypub1, this.ypub2);
  }

  toJSON(): { ypub1: string; ypub2: string } {
    return { ypub1: toHex(this.ypub1), ypub2: toHex(this.ypub2) };
  }

  /** Strict JSON form: exactly { ypub1, ypub2 } as lower-case hex; checked like fromBytes. */
  static fromJSON(value: unknown): SystemParams {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new MalformedEncodingError('system parameters', 'expected an object');
    }
    const keys = Object.keys(value).sort();
    if (keys.length !== 2 || keys[0] !== 'ypub1' || keys[1] !== 'ypub2') {
      throw new MalformedEncodingError('system parameters', 'expected exactly the fields ypub1, ypub2');
    }
    const { ypub1, ypub2 } = value as Record<string, unknown>;
    if (typeof ypub1 !== 'string' || typeof ypub2 !== 'string') {
      throw new MalformedEncodingError('system parameters', 'ypub1 and ypub2 must be hex strings');
    }
    return SystemParams.fromBytes(
      concatBytes(fromHex(ypub1, 'Ypub1', G1_BYTES), fromHex(ypub2, 'Ypub2', G2_BYTES)),
    );
  }
}

/** Internal: decoded points of the parameters. */
export function systemPoints(params: SystemParams): SystemPoints {
  return pointsOf(params);
}

export interface SystemSetup {
  /** The master key x: it goes into the CC's keystore and nowhere else. */
  readonly masterKey: SecretScalar;
  readonly params: SystemParams;
}

/** CC system setup: x random, Ypub1 = x*P1, Ypub2 = x*P2, Q = H3(Ypub). */
export function setupSystem(): SystemSetup {
  return setupSystemWithRandom(systemRandom);
}

/** Internal: setup from a given randomness source (seeded only in the library's own tests). */
export function setupSystemWithRandom(rng: RandomSource): SystemSetup {
  const { P1, P2 } = ready();
  const x = randomScalar(rng);
  const params = paramsFromPoints(mcl.mul(P1, x), mcl.mul(P2, x));
  return { masterKey: secretFromFr(x), params };
}

/** Does this master key belong to these parameters? (Used when a keystore is opened.) */
export function checkMasterKey(params: SystemParams, masterKey: SecretScalar): void {
  const { P1 } = ready();
  if (!mcl.mul(P1, scalarOf(masterKey)).isEqual(pointsOf(params).ypub1)) {
    throw new KeyMismatchError('master key');
  }
}

/** What the CC hands to an identity at registration: alpha is public, h is sent secretly. */
export interface PartialPrivateKey {
  readonly id: string;
  /** alpha = r*P1, compressed G1: part of the identity's public key. */
  readonly alpha: Uint8Array;
  /** h = r + eta*x mod q. */
  readonly h: SecretScalar;
}

/** CC: partial private key extraction for an identity (paper IV.B.1). */
export function extractPartialKey(
  masterKey: SecretScalar,
  params: SystemParams,
  id: string,
): PartialPrivateKey {
  return extractPartialKeyWithRandom(masterKey, params, id, systemRandom);
}

export function extractPartialKeyWithRandom(
  masterKey: SecretScalar,
  params: SystemParams,
  id: string,
  rng: RandomSource,
): PartialPrivateKey {
  const { P1 } = ready();
  assertIdentifier(id, 'identity');
  checkMasterKey(params, masterKey);
  const r = randomScalar(rng);
  const alpha = encodeG1(mcl.mul(P1, r));
  const eta = h1(id, alpha);
  const h = mcl.add(r, mcl.mul(eta, scalarOf(masterKey)));
  r.clear();
  return { id, alpha, h: secretFromFr(h) };
}

/**
 * A = alpha + eta*Ypub1 (= h*P1): the public, per-identity constant of the verification equation.
 * Computed once per identity (at registration) and cached with the registered key.
 */
export function identityPoint(
  params: SystemParams,
  id: string,
  alpha: mcl.G1,
  alphaBytes: Uint8Array,
): mcl.G1 {
  return mcl.add(alpha, mcl.mul(pointsOf(params).ypub1, h1(id, alphaBytes)));
}

/**
 * The holder's check of its partial private key: h*P1 == alpha + eta*Ypub1. A meter or receiver runs
 * it before using h; a CC that sent a wrong h would otherwise make every signature fail later.
 */
export function checkPartialKey(params: SystemParams, partial: PartialPrivateKey): void {
  const { P1 } = ready();
  assertIdentifier(partial.id, 'identity');
  const alpha = decodeG1(partial.alpha, 'alpha');
  const lhs = mcl.mul(P1, scalarOf(partial.h));
  if (!lhs.isEqual(identityPoint(params, partial.id, alpha, partial.alpha))) {
    throw new PartialKeyInvalidError(partial.id);
  }
}

export interface KeyPair {
  readonly secret: SecretScalar;
  /** x*P1, compressed G1 (48 bytes). */
  readonly publicKey: Uint8Array;
}

/** A meter's (x_S, Y_S) or a receiver's (x_R, Y_R): x random, Y = x*P1. */
export function generateKeyPair(): KeyPair {
  return generateKeyPairWithRandom(systemRandom);
}

export function generateKeyPairWithRandom(rng: RandomSource): KeyPair {
  ready();
  const secret = randomSecretWithRandom(rng);
  return { secret, publicKey: publicKeyOf(secret) };
}

/** Y = x*P1 for a secret x. */
export function publicKeyOf(secret: SecretScalar): Uint8Array {
  const { P1 } = ready();
  return encodeG1(mcl.mul(P1, scalarOf(secret)));
}
