import { inspect } from 'node:util';

import { ByteReader, ByteWriter, bytesEqual, toHex, utf8 } from './bytes';
import { KeyMismatchError, MalformedEncodingError, PointIsIdentityError } from './errors';
import { FixedBaseGT } from './gt-power';
import { fIndex, keyFingerprint } from './hash';
import { assertIdentifier } from './ids';
import { LruCache } from './lru';
import { G1_BYTES, mcl, precomputeLines, ready } from './mcl';
import { decodeG1, decodeG1AffineTrusted, encodeG1, encodeG1Affine } from './points';
import { REDACTED, scalarOf, SecretScalar } from './secret';
import {
  checkPartialKey,
  identityPoint,
  PartialPrivateKey,
  publicKeyOf,
  SystemParams,
  systemPoints,
} from './system';

const STORAGE_VERSION = 1;

// ---- meter side ------------------------------------------------------------------------------

export interface MeterSecrets {
  readonly x: mcl.Fr;
  readonly h: mcl.Fr;
}

let meterSecretsOf: (key: MeterPrivateKey) => MeterSecrets;

/**
 * Everything a meter signs with: its own secret x_S, the partial private key h from the CC, and the
 * public parts (ID, Y_S, alpha). Secrets are #private; printing the object shows only public fields.
 */
export class MeterPrivateKey {
  readonly #secrets: MeterSecrets;

  static {
    meterSecretsOf = (key) => key.#secrets;
  }

  private constructor(
    readonly id: string,
    /** Y_S = x_S*P1, compressed G1. */
    readonly publicKey: Uint8Array,
    /** alpha from the CC, compressed G1. */
    readonly alpha: Uint8Array,
    secrets: MeterSecrets,
  ) {
    this.#secrets = secrets;
  }

  /**
   * Put a meter's key together and run the holder's check of the partial key
   * (h*P1 == alpha + eta*Ypub1), so a bad partial key fails here and not in every later signature.
   */
  static assemble(params: SystemParams, secret: SecretScalar, partial: PartialPrivateKey): MeterPrivateKey {
    checkPartialKey(params, partial);
    return new MeterPrivateKey(partial.id, publicKeyOf(secret), partial.alpha, {
      x: scalarOf(secret),
      h: scalarOf(partial.h),
    });
  }

  /** What logs and JSON show: the public parts only. */
  toJSON(): { id: string; publicKey: string; alpha: string; secret: string } {
    return { id: this.id, publicKey: toHex(this.publicKey), alpha: toHex(this.alpha), secret: REDACTED };
  }

  [inspect.custom](): string {
    return `MeterPrivateKey ${JSON.stringify(this.toJSON())}`;
  }
}

export function meterSecrets(key: MeterPrivateKey): MeterSecrets {
  return meterSecretsOf(key);
}

// ---- node side: registered meters ------------------------------------------------------------

export interface RegisteredMeterPoints {
  readonly y: mcl.G1;
  /** A = alpha + eta*Ypub1, the per-identity constant of the verification equation. */
  readonly a: mcl.G1;
  readonly aBytes: Uint8Array;
}

let registeredPointsOf: (meter: RegisteredMeter) => RegisteredMeterPoints;
let makeRegistered: (
  id: string,
  y: Uint8Array,
  alpha: Uint8Array,
  points: RegisteredMeterPoints,
) => RegisteredMeter;

/**
 * A meter's public key as a node knows it: checked once, at registration, then cached decoded
 * (DESIGN.md section 2: registered keys are checked at registration). `toBytes()` is the storage form;
 * `fromTrustedBytes()` reads it back without repeating the subgroup checks.
 */
export class RegisteredMeter {
  readonly #points: RegisteredMeterPoints;

  static {
    registeredPointsOf = (m) => m.#points;
    makeRegistered = (id, y, alpha, points) => new RegisteredMeter(id, y, alpha, points);
  }

  private constructor(
    readonly id: string,
    /** Y_S, compressed G1. */
    readonly publicKey: Uint8Array,
    /** alpha, compressed G1. */
    readonly alpha: Uint8Array,
    points: RegisteredMeterPoints,
  ) {
    this.#points = points;
  }

  /** Registration: Y_S and alpha checked in full (curve, subgroup, identity), A computed once. */
  static register(
    params: SystemParams,
    input: { id: string; publicKey: Uint8Array; alpha: Uint8Array },
  ): RegisteredMeter {
    assertIdentifier(input.id, 'meter id');
    const y = decodeG1(input.publicKey, 'meter public key');
    const alpha = decodeG1(input.alpha, 'alpha');
    const a = identityPoint(params, input.id, alpha, input.alpha);
    if (a.isZero()) {
      throw new PointIsIdentityError('A = alpha + eta*Ypub1');
    }
    return new RegisteredMeter(input.id, input.publicKey.slice(), input.alpha.slice(), {
      y,
      a,
      aBytes: encodeG1(a),
    });
  }

  /** The public key A = alpha + eta*Ypub1 (compressed G1), for storage and inspection. */
  get identityKey(): Uint8Array {
    return this.#points.aBytes;
  }

  /**
   * Storage form: u8 version, u8 len + id, Y_S affine (96), alpha compressed (48), A affine (96). The
   * affine points load without a square root (points.ts), since a node reloads its whole registry.
   */
  toBytes(): Uint8Array {
    return new ByteWriter(260)
      .u8(STORAGE_VERSION)
      .bytes8(utf8(this.id))
      .fixed(encodeG1Affine(this.#points.y))
      .fixed(this.alpha)
      .fixed(encodeG1Affine(this.#points.a))
      .finish();
  }

  /**
   * Read back a key that this system registered (checked) earlier: the points are decoded without
   * the subgroup check, which is the expensive part and was done at registration.
   */
  static fromTrustedBytes(bytes: Uint8Array): RegisteredMeter {
    const r = new ByteReader(bytes, 'registered meter');
    if (r.u8('version') !== STORAGE_VERSION) {
      throw new MalformedEncodingError('registered meter', 'unknown storage version');
    }
    const id = Buffer.from(r.bytes8('id')).toString('latin1');
    assertIdentifier(id, 'meter id');
    const y = decodeG1AffineTrusted(r.fixed(2 * G1_BYTES, 'publicKey'), 'meter public key');
    const alpha = r.fixed(G1_BYTES, 'alpha').slice();
    const a = decodeG1AffineTrusted(r.fixed(2 * G1_BYTES, 'A'), 'A');
    r.end();
    return makeRegistered(id, encodeG1(y), alpha, { y, a, aBytes: encodeG1(a) });
  }
}

/**
 * Meter keys from this system's own registry (checked in full at activation), decoded once and kept
 * by their storage form, least recently used dropped first. A changed key is another entry, so a
 * re-keyed meter is never checked with its old key.
 */
export class TrustedMeterKeys {
  private readonly decoded: LruCache<string, RegisteredMeter>;

  constructor(capacity: number) {
    this.decoded = new LruCache(capacity);
  }

  get(storageForm: Uint8Array): RegisteredMeter {
    const key = Buffer.from(storageForm.buffer, storageForm.byteOffset, storageForm.length).toString(
      'latin1',
    );
    let meter = this.decoded.get(key);
    if (meter === undefined) {
      meter = RegisteredMeter.fromTrustedBytes(storageForm);
      this.decoded.set(key, meter);
    }
    return meter;
  }
}

export function registeredMeterPoints(meter: RegisteredMeter): RegisteredMeterPoints {
  return registeredPointsOf(meter);
}

// ---- receivers: the public side (meters encrypt to it) ---------------------------------------

/** Uses of g_j after which a meter-side process builds the fixed-base table for it. */
const TABLE_AFTER_USES = 8;

interface ReceiverPublicState {
  readonly y: mcl.G1;
  readonly params: SystemParams;
  g?: mcl.GT;
  table?: FixedBaseGT;
  uses: number;
}

let receiverStateOf: (key: ReceiverPublicKey) => ReceiverPublicState;

/**
 * A receiver's public key as meters (and nodes) know it: ID, index J = f_Index(ID), Y_R checked in
 * full, and the key fingerprint that reports carry. Meters raise g_j = e(Y_R, Ypub2) to their d;
 * g_j is computed once, and after a few uses a fixed-base table makes each power about twice as fast.
 */
export class ReceiverPublicKey {
  readonly #state: ReceiverPublicState;
  /** J = f_Index(ID). */
  readonly index: bigint;
  /** 8-byte fingerprint of Y_R, in every report header next to the receiver's ID. */
  readonly fingerprint: Uint8Array;

  static {
    receiverStateOf = (k) => k.#state;
  }

  private constructor(
    readonly id: string,
    readonly publicKey: Uint8Array,
    state: ReceiverPublicState,
  ) {
    this.#state = state;
    this.index = fIndex(id);
    this.fingerprint = keyFingerprint(publicKey);
  }

  /** Registration: Y_R checked in full. */
  static register(params: SystemParams, input: { id: string; publicKey: Uint8Array }): ReceiverPublicKey {
    assertIdentifier(input.id, 'receiver id');
    const y = decodeG1(input.publicKey, 'receiver public key');
    return new ReceiverPublicKey(input.id, input.publicKey.slice(), { y, params, uses: 0 });
  }

  /** Build the fixed-base table now (a meter process can do it at startup, off the first report's path). */
  precompute(): void {
    const s = this.#state;
    s.table ??= new FixedBaseGT(gOf(s));
  }

  toBytes(): Uint8Array {
    return new ByteWriter(120).u8(STORAGE_VERSION).bytes8(utf8(this.id)).fixed(this.publicKey).finish();
  }

  static fromTrustedBytes(params: SystemParams, bytes: Uint8Array): ReceiverPublicKey {
    const r = new ByteReader(bytes, 'receiver public key');
    if (r.u8('version') !== STORAGE_VERSION) {
      throw new MalformedEncodingError('receiver public key', 'unknown storage version');
    }
    const id = Buffer.from(r.bytes8('id')).toString('latin1');
    assertIdentifier(id, 'receiver id');
    const publicKey = r.fixed(G1_BYTES, 'publicKey').slice();
    r.end();
    const y = decodeG1(publicKey, 'receiver public key', 'trusted');
    return new ReceiverPublicKey(id, publicKey, { y, params, uses: 0 });
  }

  toJSON(): { id: string; index: string; publicKey: string } {
    return {
      id: this.id,
      index: this.index.toString(16).padStart(16, '0'),
      publicKey: toHex(this.publicKey),
    };
  }
}

function gOf(s: ReceiverPublicState): mcl.GT {
  s.g ??= mcl.pairing(s.y, systemPoints(s.params).ypub2);
  return s.g;
}

/** U_j = g_j^d. */
export function receiverPower(key: ReceiverPublicKey, d: mcl.Fr): mcl.GT {
  const s = receiverStateOf(key);
  if (s.table === undefined) {
    s.uses += 1;
    if (s.uses > TABLE_AFTER_USES) {
      s.table = new FixedBaseGT(gOf(s));
    } else {
      return mcl.pow(gOf(s), d);
    }
  }
  return s.table.pow(d);
}

export function receiverParams(key: ReceiverPublicKey): SystemParams {
  return receiverStateOf(key).params;
}

// ---- receivers: the private side (decryption) ------------------------------------------------

interface ReceiverSecretState {
  readonly x: mcl.Fr;
  /** Miller-loop lines of x_R*Ypub2: every share costs one precomputed Miller loop + final exp. */
  readonly lines: mcl.PrecomputedG2;
  readonly params: SystemParams;
}

let receiverSecretOf: (key: ReceiverPrivateKey) => ReceiverSecretState;

/**
 * A receiver's decryption key: x_R, with x_R*Ypub2 and its Miller-loop lines precomputed once. The
 * public fields (ID, J, Y_R, fingerprint) are derived from the secret, so a wrong secret shows up as a
 * fingerprint that no report names.
 */
export class ReceiverPrivateKey {
  readonly #state: ReceiverSecretState;
  readonly index: bigint;
  readonly publicKey: Uint8Array;
  readonly fingerprint: Uint8Array;

  static {
    receiverSecretOf = (k) => k.#state;
  }

  private constructor(
    readonly id: string,
    secret: SecretScalar,
    params: SystemParams,
  ) {
    const x = scalarOf(secret);
    this.publicKey = publicKeyOf(secret);
    this.index = fIndex(id);
    this.fingerprint = keyFingerprint(this.publicKey);
    const z = mcl.mul(systemPoints(params).ypub2, x);
    this.#state = { x, lines: precomputeLines(this, z), params };
  }

  /**
   * @param expectedPublicKey the registered Y_R, when known: a secret that does not match it is
   *   rejected here (CRYPTO.KEY_MISMATCH) rather than failing every share later.
   */
  static create(
    params: SystemParams,
    id: string,
    secret: SecretScalar,
    expectedPublicKey?: Uint8Array,
  ): ReceiverPrivateKey {
    ready();
    assertIdentifier(id, 'receiver id');
    const key = new ReceiverPrivateKey(id, secret, params);
    if (expectedPublicKey !== undefined && !bytesEqual(expectedPublicKey, key.publicKey)) {
      throw new KeyMismatchError(`receiver key "${id}"`);
    }
    return key;
  }

  /** What logs and JSON show: the public parts only. */
  toJSON(): { id: string; index: string; publicKey: string; secret: string } {
    return {
      id: this.id,
      index: this.index.toString(16).padStart(16, '0'),
      publicKey: toHex(this.publicKey),
      secret: REDACTED,
    };
  }

  [inspect.custom](): string {
    return `ReceiverPrivateKey ${JSON.stringify(this.toJSON())}`;
  }
}

export function receiverSecret(key: ReceiverPrivateKey): ReceiverSecretState {
  return receiverSecretOf(key);
}
