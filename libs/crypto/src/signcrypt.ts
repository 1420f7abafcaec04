import { ByteWriter, bytesEqual } from './bytes';
import { LimitExceededError, NonceExhaustedError, PolicyInvalidError } from './errors';
import { MeterPrivateKey, meterSecrets, receiverParams, receiverPower, ReceiverPublicKey } from './keys';
import { mcl, ready } from './mcl';
import { encodeReportG1, encodeReportG2 } from './points';
import { randomScalar, RandomSource, systemRandom } from './random';
import {
  encodeHeader,
  MAX_DIMENSION_BYTES,
  MAX_DIMENSIONS,
  MAX_RECEIVERS,
  Report,
  REPORT_VERSION,
  REPORT_VERSIONS,
} from './report';
import {
  deriveShareKeys,
  Dimension,
  encodeDimensions,
  encryptShare,
  headerTag,
  ShareKeyMaterial,
} from './share';
import { h2 } from './hash';
import { signingInput } from './signature';
import { SystemParams } from './system';
import { mulP1, mulQ } from './fixed-base';

/**
 * How long a meter keeps one d (and so one D and one share key per receiver). `maxReports: 1` is the
 * paper's per-report mode: a fresh d for every report. Longer epochs trade the receivers' pairing per
 * report for one pairing per epoch (DESIGN.md section 2, key epochs); every report still has its own
 * nonce, signature and GCM IV.
 */
export interface EpochPolicy {
  /** Reports per epoch, 1..2^32. */
  readonly maxReports: number;
  /** Age after which the epoch ends even if reports remain (ms, measured on report timestamps). */
  readonly maxAgeMs: number;
}

export const PER_REPORT_EPOCH: EpochPolicy = Object.freeze({ maxReports: 1, maxAgeMs: 0 });

/** Which dimensions of the meter's reading go to which receiver. */
export interface SharingPolicy {
  /** v, the number of dimensions in every reading. */
  readonly dimensionCount: number;
  readonly receivers: readonly {
    readonly receiver: ReceiverPublicKey;
    /** Positions 0..v-1 of the reading this receiver gets (and it gets nothing else). */
    readonly dimensions: readonly number[];
  }[];
}

/** One reading: M_1..M_v as bytes (the meter SDK decides how numbers are written). */
export type Reading = readonly Uint8Array[];

interface Epoch {
  readonly d: Uint8Array;
  readonly startedAt: number;
  seq: number;
  readonly keys: readonly ShareKeyMaterial[];
}

interface PreparedReceiver {
  readonly key: ReceiverPublicKey;
  readonly dimensions: readonly number[];
}

const U64_MAX = (1n << 64n) - 1n;
let construct: (
  params: SystemParams,
  key: MeterPrivateKey,
  policy: SharingPolicy,
  options: MeterSigncrypterOptions,
  rng: RandomSource,
) => MeterSigncrypter;

export interface MeterSigncrypterOptions {
  readonly epoch?: EpochPolicy;
  /**
   * The first nonce to use: the meter persists its counter and passes last + 1 after a restart.
   * Nonces only need to be unique per meter for replay protection; GCM IVs are safe regardless,
   * because a restart always opens a new key epoch.
   */
  readonly nextNonce?: bigint;
  /**
   * The wire version to write (report.ts): 2, the default, with uncompressed points; 1 for a
   * consortium whose nodes do not read version 2 yet.
   */
  readonly reportVersion?: number;
}

/**
 * A meter's signcryption: multidimensional readings split by a sharing policy among m receivers,
 * each share AES-256-GCM under its own key, the whole report signed with the certificateless
 * signature. One instance per meter; not safe to share between meters.
 */
export class MeterSigncrypter {
  readonly #params: SystemParams;
  readonly #key: MeterPrivateKey;
  readonly #receivers: readonly PreparedReceiver[];
  readonly #epochPolicy: EpochPolicy;
  readonly #rng: RandomSource;
  readonly #dimensionCount: number;
  #nonce: bigint;
  #epoch: Epoch | undefined;
  readonly #version: number;

  static {
    construct = (params, key, policy, options, rng) =>
      new MeterSigncrypter(params, key, policy, options, rng);
  }

  private constructor(
    params: SystemParams,
    key: MeterPrivateKey,
    policy: SharingPolicy,
    options: MeterSigncrypterOptions,
    rng: RandomSource,
  ) {
    ready();
    this.#params = params;
    this.#key = key;
    this.#receivers = checkPolicy(params, policy);
    this.#dimensionCount = policy.dimensionCount;
    this.#epochPolicy = checkEpochPolicy(options.epoch ?? PER_REPORT_EPOCH);
    this.#rng = rng;
    this.#nonce = options.nextNonce ?? 0n;
    if (this.#nonce < 0n || this.#nonce > U64_MAX) {
      throw new NonceExhaustedError('nextNonce must be a u64');
    }
    this.#version = options.reportVersion ?? REPORT_VERSION;
    if (!REPORT_VERSIONS.includes(this.#version)) {
      throw new PolicyInvalidError(
        `report version ${this.#version} is not one of ${REPORT_VERSIONS.join(', ')}`,
      );
    }
  }

  static create(
    params: SystemParams,
    key: MeterPrivateKey,
    policy: SharingPolicy,
    options: MeterSigncrypterOptions = {},
  ): MeterSigncrypter {
    return construct(params, key, policy, options, systemRandom);
  }

  /** The nonce the next report will carry (persist it to survive restarts). */
  get nextNonce(): bigint {
    return this.#nonce;
  }

  /** Close the current key epoch now (the next report opens a new one with a fresh d). */
  endEpoch(): void {
    this.#epoch = undefined;
  }

  /** Signcrypt one reading taken at `timestamp` (ms since the Unix epoch). */
  signcrypt(reading: Reading, timestamp: number): Report {
    ready();
    if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
      throw new RangeError('timestamp must be a non-negative integer of milliseconds');
    }
    if (reading.length !== this.#dimensionCount) {
      throw new PolicyInvalidError(
        `the reading has ${reading.length} dimensions, the policy ${this.#dimensionCount}`,
      );
    }
    for (const [i, v] of reading.entries()) {
      if (v.length > MAX_DIMENSION_BYTES) {
        throw new LimitExceededError(`dimension ${i}`, MAX_DIMENSION_BYTES, v.length);
      }
    }
    if (this.#nonce > U64_MAX) {
      throw new NonceExhaustedError('the 64-bit nonce counter is exhausted');
    }
    const nonce = this.#nonce;
    const epoch = this.#currentEpoch(timestamp);

    const header = encodeHeader({
      version: this.#version,
      meterId: this.#key.id,
      timestamp,
      nonce,
      epoch: { startedAt: epoch.startedAt, seq: epoch.seq },
      d: epoch.d,
      receivers: this.#receivers.map((r) => ({
        index: r.key.index,
        id: r.key.id,
        keyFingerprint: r.key.fingerprint,
      })),
    });
    const body = new ByteWriter(header.length + 512).fixed(header);
    for (const [j, r] of this.#receivers.entries()) {
      const keys = epoch.keys[j] as ShareKeyMaterial;
      const dims: Dimension[] = r.dimensions.map((index) => ({ index, value: reading[index] as Uint8Array }));
      const ciphertext = encryptShare(keys, nonce, header, r.key.index, encodeDimensions(dims));
      body.fixed(keys.keyCheck).fixed(headerTag(keys, header)).bytes16(ciphertext);
    }
    const w = randomScalar(this.#rng);
    body.fixed(encodeReportG1(mulP1(w), this.#version));
    const prefix = body.finish();

    const secrets = meterSecrets(this.#key);
    const beta = h2(signingInput(prefix, this.#key, this.#params));
    const s = mcl.add(mcl.add(mcl.mul(beta, secrets.x), secrets.h), w);
    const t = encodeReportG2(mulQ(this.#params, s), this.#version);
    w.clear();
    s.clear();

    const out = new Uint8Array(prefix.length + t.length);
    out.set(prefix);
    out.set(t, prefix.length);
    const report = Report.decode(out);
    epoch.seq += 1;
    this.#nonce = nonce + 1n;
    return report;
  }

  #currentEpoch(timestamp: number): Epoch {
    const e = this.#epoch;
    const p = this.#epochPolicy;
    if (
      e !== undefined &&
      e.seq < p.maxReports &&
      timestamp >= e.startedAt &&
      (p.maxReports === 1 || timestamp - e.startedAt <= p.maxAgeMs)
    ) {
      return e;
    }
    const d = randomScalar(this.#rng);
    const dBytes = encodeReportG1(mulP1(d), this.#version);
    const keys = this.#receivers.map((r) => deriveShareKeys(receiverPower(r.key, d), dBytes, r.key.index));
    d.clear(); // the paper: "d is erased safely"; the epoch keeps only D and the derived keys
    const next: Epoch = { d: dBytes, startedAt: timestamp, seq: 0, keys };
    this.#epoch = next;
    return next;
  }
}

/** Internal: a signcrypter drawing d and w from a given source (seeded only in the library's tests). */
export function createMeterSigncrypterWithRandom(
  rng: RandomSource,
  params: SystemParams,
  key: MeterPrivateKey,
  policy: SharingPolicy,
  options: MeterSigncrypterOptions = {},
): MeterSigncrypter {
  return construct(params, key, policy, options, rng);
}

function checkPolicy(params: SystemParams, policy: SharingPolicy): PreparedReceiver[] {
  const v = policy.dimensionCount;
  if (!Number.isInteger(v) || v < 1 || v > MAX_DIMENSIONS) {
    throw new PolicyInvalidError(`dimensionCount must be 1..${MAX_DIMENSIONS}`);
  }
  if (policy.receivers.length === 0) {
    throw new PolicyInvalidError('at least one receiver is required');
  }
  if (policy.receivers.length > MAX_RECEIVERS) {
    throw new LimitExceededError('receivers', MAX_RECEIVERS, policy.receivers.length);
  }
  const ids = new Set<string>();
  return policy.receivers.map(({ receiver, dimensions }) => {
    if (ids.has(receiver.id)) {
      throw new PolicyInvalidError(`receiver "${receiver.id}" appears twice`);
    }
    ids.add(receiver.id);
    if (!bytesEqual(receiverParams(receiver).toBytes(), params.toBytes())) {
      throw new PolicyInvalidError(`receiver "${receiver.id}" was registered under other system parameters`);
    }
    if (dimensions.length === 0) {
      throw new PolicyInvalidError(`receiver "${receiver.id}" gets no dimension`);
    }
    const sorted = [...dimensions].sort((a, b) => a - b);
    for (const [k, d] of sorted.entries()) {
      if (!Number.isInteger(d) || d < 0 || d >= v) {
        throw new PolicyInvalidError(`receiver "${receiver.id}": dimension ${d} is not in 0..${v - 1}`);
      }
      if (k > 0 && sorted[k - 1] === d) {
        throw new PolicyInvalidError(`receiver "${receiver.id}": dimension ${d} listed twice`);
      }
    }
    return { key: receiver, dimensions: sorted };
  });
}

function checkEpochPolicy(p: EpochPolicy): EpochPolicy {
  if (!Number.isInteger(p.maxReports) || p.maxReports < 1 || p.maxReports > 2 ** 32) {
    throw new PolicyInvalidError('epoch.maxReports must be 1..2^32');
  }
  if (!Number.isSafeInteger(p.maxAgeMs) || p.maxAgeMs < 0) {
    throw new PolicyInvalidError('epoch.maxAgeMs must be a non-negative integer');
  }
  return p;
}
