/**
 * Every failure the crypto library raises on purpose is a CryptoError with a stable `code`
 * (`CRYPTO.*`). Callers and tests match on the code, never on the message. `details` is safe to log
 * and to return to a client: it never carries secret material (no scalars, no derived keys, no
 * plaintext), only lengths, indexes, identifiers and public bytes.
 *
 * The shape (code + details + name) is the one the kernel's DomainError has, so a transport filter
 * can map both the same way; this library has no dependency on any other library of the project.
 */
export abstract class CryptoError extends Error {
  abstract readonly code: string;

  constructor(
    message: string,
    readonly details: Readonly<Record<string, unknown>> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** A public function was called before `initCrypto()` finished. */
export class CryptoNotInitialisedError extends CryptoError {
  readonly code = 'CRYPTO.NOT_INITIALISED';
  constructor() {
    super('the crypto library is not initialised: await initCrypto() once at startup');
  }
}

// ---- encodings -------------------------------------------------------------------------------

/** Fewer bytes than the encoding needs (a point, a scalar, a key, a report field). */
export class EncodingTruncatedError extends CryptoError {
  readonly code = 'CRYPTO.ENCODING_TRUNCATED';
  constructor(what: string, expected: number, actual: number) {
    super(`${what}: expected ${expected} bytes, got ${actual}`, { what, expected, actual });
  }
}

/** More bytes than the encoding allows (trailing bytes, an oversized point or field). */
export class EncodingOversizedError extends CryptoError {
  readonly code = 'CRYPTO.ENCODING_OVERSIZED';
  constructor(what: string, expected: number, actual: number) {
    super(`${what}: expected at most ${expected} bytes, got ${actual}`, { what, expected, actual });
  }
}

/** Bytes of the right length that are not a valid encoding (flag bits, a coordinate >= p, bad hex). */
export class MalformedEncodingError extends CryptoError {
  readonly code = 'CRYPTO.MALFORMED_ENCODING';
  constructor(what: string, reason: string) {
    super(`${what}: ${reason}`, { what, reason });
  }
}

/** A point encoding whose x-coordinate has no point on the curve. */
export class PointNotOnCurveError extends CryptoError {
  readonly code = 'CRYPTO.POINT_NOT_ON_CURVE';
  constructor(what: string) {
    super(`${what}: not a point of the curve`, { what });
  }
}

/** A curve point outside the prime-order subgroup (small-subgroup and invalid-curve attacks). */
export class PointNotInSubgroupError extends CryptoError {
  readonly code = 'CRYPTO.POINT_NOT_IN_SUBGROUP';
  constructor(what: string) {
    super(`${what}: the point is on the curve but not in the prime-order subgroup`, { what });
  }
}

/** The point at infinity where a real key, signature part or ephemeral value is required. */
export class PointIsIdentityError extends CryptoError {
  readonly code = 'CRYPTO.POINT_IS_IDENTITY';
  constructor(what: string) {
    super(`${what}: the identity point is not allowed`, { what });
  }
}

/** A scalar (secret key, partial key) that is zero or not below the group order. */
export class ScalarOutOfRangeError extends CryptoError {
  readonly code = 'CRYPTO.SCALAR_OUT_OF_RANGE';
  constructor(what: string) {
    super(`${what}: the scalar must lie in [1, q-1]`, { what });
  }
}

// ---- setup and keys --------------------------------------------------------------------------

/** Ypub1 and Ypub2 are not x*P1 and x*P2 for the same x. */
export class SystemParamsInconsistentError extends CryptoError {
  readonly code = 'CRYPTO.SYSTEM_PARAMS_INCONSISTENT';
  constructor() {
    super('system parameters: Ypub1 and Ypub2 do not carry the same master key (pairing check failed)');
  }
}

/** The holder's check h*P1 == alpha + eta*Ypub1 failed: the CC sent a bad partial private key. */
export class PartialKeyInvalidError extends CryptoError {
  readonly code = 'CRYPTO.PARTIAL_KEY_INVALID';
  constructor(id: string) {
    super(`partial private key for "${id}" does not match alpha and the system key`, { id });
  }
}

/** A secret does not belong to the public key it is stored or registered with. */
export class KeyMismatchError extends CryptoError {
  readonly code = 'CRYPTO.KEY_MISMATCH';
  constructor(what: string) {
    super(`${what}: the secret key does not match its public key`, { what });
  }
}

/** An identifier (meter ID, receiver ID, chain ID, tag) outside the allowed alphabet or length. */
export class InvalidIdentifierError extends CryptoError {
  readonly code = 'CRYPTO.INVALID_IDENTIFIER';
  constructor(what: string, reason: string) {
    super(`${what}: ${reason}`, { what, reason });
  }
}

// ---- reports ---------------------------------------------------------------------------------

/** A report (binary or JSON) that does not follow the wire format. */
export class ReportMalformedError extends CryptoError {
  readonly code = 'CRYPTO.REPORT_MALFORMED';
  constructor(reason: string, details: Record<string, unknown> = {}) {
    super(`report: ${reason}`, { reason, ...details });
  }
}

/** A report or reading over one of the exported size limits. */
export class LimitExceededError extends CryptoError {
  readonly code = 'CRYPTO.LIMIT_EXCEEDED';
  constructor(what: string, limit: number, actual: number) {
    super(`${what}: ${actual} exceeds the limit of ${limit}`, { what, limit, actual });
  }
}

/** A sharing policy that names an unknown dimension, a receiver twice, or no receiver. */
export class PolicyInvalidError extends CryptoError {
  readonly code = 'CRYPTO.POLICY_INVALID';
  constructor(reason: string) {
    super(`sharing policy: ${reason}`, { reason });
  }
}

/** The meter signer refuses to sign: its nonce counter is exhausted or would go backwards. */
export class NonceExhaustedError extends CryptoError {
  readonly code = 'CRYPTO.NONCE_EXHAUSTED';
  constructor(reason: string) {
    super(`report nonce: ${reason}`, { reason });
  }
}

// ---- unsigncryption: what went wrong with a share -----------------------------------------------

/** The report has no share addressed to this receiver. */
export class ShareNotFoundError extends CryptoError {
  readonly code = 'CRYPTO.SHARE_NOT_FOUND';
  constructor(receiverId: string) {
    super(`the report carries no share for receiver "${receiverId}"`, { receiverId });
  }
}

/**
 * The share was encrypted to another public key than the one this private key belongs to (the
 * header's key fingerprint differs and no share of the report is keyed for this key): a wrong or
 * rotated private key.
 */
export class WrongKeyError extends CryptoError {
  readonly code = 'CRYPTO.WRONG_KEY';
  constructor(receiverId: string) {
    super(`the share for "${receiverId}" was encrypted to another key than this private key`, { receiverId });
  }
}

/** The share in this receiver's slot belongs to another slot (shares were moved or exchanged). */
export class ShareSwappedError extends CryptoError {
  readonly code = 'CRYPTO.SHARE_SWAPPED';
  constructor(receiverId: string, foundAt: number | null) {
    super(
      foundAt === null
        ? `the share in the slot of "${receiverId}" is a copy of another slot's share`
        : `the share of "${receiverId}" sits in slot ${foundAt}, another receiver's slot`,
      { receiverId, foundAt },
    );
  }
}

/**
 * Nothing in the report is keyed for this receiver's key, although the header names that key: the
 * share in its slot was replaced (or its key check altered), or the report's D was replaced.
 */
export class ShareNotKeyedError extends CryptoError {
  readonly code = 'CRYPTO.SHARE_NOT_KEYED';
  constructor(receiverId: string) {
    super(`no share of the report is keyed for "${receiverId}": its share or the report's D was replaced`, {
      receiverId,
    });
  }
}

/** The key is right and the share is the receiver's, but the report header differs from the signed one. */
export class HeaderChangedError extends CryptoError {
  readonly code = 'CRYPTO.HEADER_CHANGED';
  constructor(receiverId: string) {
    super(`the report header was changed after "${receiverId}"'s share was made`, { receiverId });
  }
}

/** Key and header check out, but AES-GCM rejects the ciphertext: the ciphertext bytes were altered. */
export class CiphertextTamperedError extends CryptoError {
  readonly code = 'CRYPTO.CIPHERTEXT_TAMPERED';
  constructor(receiverId: string) {
    super(`the ciphertext of "${receiverId}"'s share was altered`, { receiverId });
  }
}

// ---- keystore --------------------------------------------------------------------------------

export class KeystoreMalformedError extends CryptoError {
  readonly code = 'CRYPTO.KEYSTORE_MALFORMED';
  constructor(reason: string) {
    super(`keystore: ${reason}`, { reason });
  }
}

export class KeystoreWrongPassphraseError extends CryptoError {
  readonly code = 'CRYPTO.KEYSTORE_WRONG_PASSPHRASE';
  constructor() {
    super('keystore: wrong passphrase (or the file was altered)');
  }
}

export class KeystorePermissionsError extends CryptoError {
  readonly code = 'CRYPTO.KEYSTORE_PERMISSIONS';
  constructor(path: string, mode: number) {
    const octal = `0${(mode & 0o777).toString(8)}`;
    super(`keystore ${path}: mode ${octal} lets group or others read it; chmod 600 first`, {
      path,
      mode: octal,
    });
  }
}

// ---- worker pool -----------------------------------------------------------------------------

export class WorkerCrashedError extends CryptoError {
  readonly code = 'CRYPTO.WORKER_CRASHED';
  constructor(workerIndex: number, reason: string) {
    super(`crypto worker ${workerIndex} died while running this task: ${reason}`, { workerIndex, reason });
  }
}

export class PoolClosedError extends CryptoError {
  readonly code = 'CRYPTO.POOL_CLOSED';
  constructor() {
    super('the crypto pool is closed');
  }
}

/** A worker answered with an error it could not classify (a bug, not bad input). */
export class WorkerTaskError extends CryptoError {
  readonly code = 'CRYPTO.WORKER_TASK_FAILED';
  constructor(message: string, details: Record<string, unknown> = {}) {
    super(message, details);
  }
}

const ERROR_CLASSES: readonly (abstract new (...args: never[]) => CryptoError)[] = [
  CryptoNotInitialisedError,
  EncodingTruncatedError,
  EncodingOversizedError,
  MalformedEncodingError,
  PointNotOnCurveError,
  PointNotInSubgroupError,
  PointIsIdentityError,
  ScalarOutOfRangeError,
  SystemParamsInconsistentError,
  PartialKeyInvalidError,
  KeyMismatchError,
  InvalidIdentifierError,
  ReportMalformedError,
  LimitExceededError,
  PolicyInvalidError,
  NonceExhaustedError,
  ShareNotFoundError,
  WrongKeyError,
  ShareSwappedError,
  ShareNotKeyedError,
  HeaderChangedError,
  CiphertextTamperedError,
  KeystoreMalformedError,
  KeystoreWrongPassphraseError,
  KeystorePermissionsError,
  WorkerCrashedError,
  PoolClosedError,
  WorkerTaskError,
];

let byCode: Map<string, abstract new (...args: never[]) => CryptoError> | undefined;

/**
 * Rebuild an error that crossed a thread boundary (structured clone keeps neither the class nor its
 * fields): same class, code, message and details, so callers of the pool match on it as usual.
 */
export function reviveCryptoError(
  code: string,
  message: string,
  details: Readonly<Record<string, unknown>>,
): CryptoError {
  if (byCode === undefined) {
    byCode = new Map();
    for (const cls of ERROR_CLASSES) {
      // The code is an instance field: read it from a throwaway instance (every constructor accepts
      // missing arguments, it only formats them into the message).
      const probe = new (cls as unknown as new () => CryptoError)();
      byCode.set(probe.code, cls);
    }
  }
  const cls = byCode.get(code) ?? WorkerTaskError;
  const e = Object.create(cls.prototype as object) as CryptoError;
  Object.defineProperties(e, {
    message: { value: message, writable: true, configurable: true },
    details: { value: details, enumerable: true },
    code: { value: code, enumerable: true },
    name: { value: cls.name, writable: true, configurable: true },
  });
  Error.captureStackTrace(e, reviveCryptoError);
  return e;
}
