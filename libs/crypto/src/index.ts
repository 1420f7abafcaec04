// Public API of @app/crypto. Everything else in this library is internal: in particular nothing here
// accepts a randomness source, so production code cannot be handed a seeded one.

export { initCrypto, isCryptoReady, G1_BYTES, G2_BYTES, FR_BYTES } from './mcl';

/** The library's small least-recently-used map, for other caches of keys and verdicts. */
export { LruCache } from './lru';

export {
  CryptoError,
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
} from './errors';

export { SecretScalar, REDACTED } from './secret';
export { MAX_ID_BYTES } from './ids';

export {
  DST_H1,
  DST_H2,
  DST_H3,
  H4_SALT,
  H4_INFO,
  TAG_F_INDEX,
  TAG_KEY_FINGERPRINT,
  TAG_REPORT_ID,
  fIndex,
  keyFingerprint,
} from './hash';

export {
  SystemParams,
  setupSystem,
  checkMasterKey,
  extractPartialKey,
  checkPartialKey,
  generateKeyPair,
  publicKeyOf,
} from './system';
export type { SystemSetup, PartialPrivateKey, KeyPair } from './system';

export {
  MeterPrivateKey,
  RegisteredMeter,
  ReceiverPublicKey,
  ReceiverPrivateKey,
  TrustedMeterKeys,
} from './keys';

export {
  Report,
  REPORT_VERSION,
  MAX_RECEIVERS,
  MAX_DIMENSIONS,
  MAX_DIMENSION_BYTES,
  MAX_SHARE_PLAINTEXT_BYTES,
  MAX_SHARE_CIPHERTEXT_BYTES,
  MAX_REPORT_BYTES,
  GCM_TAG_BYTES,
  KEY_CHECK_BYTES,
  HEADER_TAG_BYTES,
  KEY_FINGERPRINT_BYTES,
} from './report';
export type { ReportJson, ReportReceiver, ReportShare, ReportEpoch } from './report';

export { MeterSigncrypter, PER_REPORT_EPOCH } from './signcrypt';
export { precomputeSigningTables } from './fixed-base';
export type { EpochPolicy, SharingPolicy, Reading, MeterSigncrypterOptions } from './signcrypt';

export { ShareDecryptor } from './unsigncrypt';
export type { DecryptedShare, ShareDecryptorOptions, ShareResult } from './unsigncrypt';
export type { Dimension } from './share';

export { verifyReport, verifyReportBatch, SIGNATURE_INVALID, METER_MISMATCH } from './signature';
export type { ReportVerdict, BatchVerdict, BatchItem } from './signature';

export {
  BLS_SIGNATURE_DST,
  BLS_POP_DST,
  BLS_TAGS,
  BLS_PUBLIC_KEY_BYTES,
  BlsPublicKey,
  blsSigningBytes,
  blsGenerateKey,
  blsPublicKeyOf,
  blsSign,
  blsSignAggregate,
  blsVerify,
  blsProvePossession,
  blsVerifyPossession,
  blsAggregateSignatures,
  blsFastAggregateVerify,
  blsBatchVerify,
  nodeLinkKey,
  NODE_LINK_DST,
  NODE_LINK_KEY_BYTES,
} from './bls';
export type { BlsDomain, BlsKeyPair, BlsBatchItem } from './bls';

export {
  sealKeystore,
  openKeystore,
  writeKeystoreFile,
  readKeystoreFile,
  describeKeystore,
  describeKeystoreFile,
  DEFAULT_SCRYPT,
} from './keystore';
export type { KeystoreEntry, KeystoreKind, KeystoreSummary, ScryptParams } from './keystore';

export { CryptoPool, Urgency } from './pool/crypto-pool';
export type { CryptoPoolOptions, PoolReceiver, ShareOutcome, VerifyOptions } from './pool/crypto-pool';

// Canonical byte encoding and strict hex/base64, shared with the ledger's formats.
export {
  ByteReader,
  ByteWriter,
  bytesEqual,
  constantTimeEqual,
  fromBase64,
  fromBase64Url,
  fromHex,
  toBase64,
  toBase64Url,
  toHex,
} from './bytes';

// Idempotent partial-key issuance by the CC and its transport to the holder.
export {
  DST_ISSUANCE,
  DST_TRANSPORT,
  issuePartialKey,
  openPartialKey,
  PartialKeyTransportError,
  sealPartialKey,
} from './issuance';
export type { SealedPartialKey } from './issuance';
