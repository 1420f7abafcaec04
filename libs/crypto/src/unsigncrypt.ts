import { bytesEqual } from './bytes';
import {
  CiphertextTamperedError,
  CryptoError,
  HeaderChangedError,
  ShareNotFoundError,
  ShareNotKeyedError,
  ShareSwappedError,
  WrongKeyError,
} from './errors';
import { ReceiverPrivateKey, receiverSecret } from './keys';
import { LruCache } from './lru';
import { mcl, ready } from './mcl';
import { decodeReportG1 } from './points';
import { Report, ReportEpoch } from './report';
import {
  checkHeaderTag,
  decodeDimensions,
  decryptShare,
  deriveShareKeys,
  Dimension,
  keyCheckMatches,
  ShareKeyMaterial,
} from './share';

export interface DecryptedShare {
  readonly meterId: string;
  readonly timestamp: number;
  readonly nonce: bigint;
  readonly epoch: ReportEpoch;
  /** The dimensions of the reading that the meter's policy gives this receiver, by position. */
  readonly dimensions: readonly Dimension[];
}

export interface ShareDecryptorOptions {
  /** Share keys kept per (meter, D): one pairing per key epoch instead of one per report. */
  readonly epochKeyCacheSize?: number;
}

/**
 * A receiver's side of the scheme. For each report: find the receiver's slot, derive the share key
 * (from the cache when this meter's D was seen before; otherwise check D in full, then one
 * precomputed Miller loop and one final exponentiation), then tell apart what can go wrong:
 *
 *   1. the key check in our slot is ours -> the key is right and the share was made for this slot;
 *      then the header tag (header changed?) and AES-GCM (ciphertext tampered?) decide.
 *   2. otherwise our key check sits in another slot            -> CRYPTO.SHARE_SWAPPED
 *   3. otherwise the header names another key than ours        -> CRYPTO.WRONG_KEY
 *   4. otherwise our slot holds a copy of another slot's share -> CRYPTO.SHARE_SWAPPED
 *   5. otherwise nothing in the report is keyed for us although
 *      the header names our key: our share or D was replaced   -> CRYPTO.SHARE_NOT_KEYED
 *
 * Only the key check and the header tag need the derived key, and nobody but the meter and this
 * receiver can compute it, so no one can make a wrong verdict by rewriting the report: a rewrite
 * turns any verdict into a failure, never into a success or into case 1's verdicts.
 */
export class ShareDecryptor {
  private readonly cache: LruCache<string, ShareKeyMaterial>;

  constructor(
    readonly key: ReceiverPrivateKey,
    options: ShareDecryptorOptions = {},
  ) {
    ready();
    this.cache = new LruCache(options.epochKeyCacheSize ?? 4096);
  }

  /** Number of share keys in the epoch cache. */
  get cachedKeys(): number {
    return this.cache.size;
  }

  open(report: Report): DecryptedShare {
    return openWithKeys(this.key, report, (slot) => (slot < 0 ? undefined : this.keysFor(report)));
  }

  /**
   * Open many shares: one outcome per report, the share or the typed error. The pairings for the
   * D's not in the cache run first, back to back, and the hashing and AES-GCM after: interleaving
   * native crypto calls with the pairing code costs about 5% of a pairing per share on this machine
   * (caches), which a batch pays once.
   */
  openAll(reports: readonly Report[]): ShareResult[] {
    const fresh = new Map<string, { d: Uint8Array; u?: mcl.GT; error?: CryptoError }>();
    for (const report of reports) {
      const cacheKey = keyFor(report);
      if (
        report.receivers.some((r) => r.id === this.key.id) &&
        !fresh.has(cacheKey) &&
        this.cache.get(cacheKey) === undefined
      ) {
        try {
          const point = decodeReportG1(report.d, 'D', 'full');
          fresh.set(cacheKey, { d: report.d, u: pairWithKey(this.key, point) });
        } catch (e) {
          if (!(e instanceof CryptoError)) {
            throw e;
          }
          fresh.set(cacheKey, { d: report.d, error: e });
        }
      }
    }
    for (const [cacheKey, entry] of fresh) {
      if (entry.u !== undefined) {
        this.cache.set(cacheKey, deriveShareKeys(entry.u, entry.d, this.key.index));
      }
    }
    return reports.map((report) => {
      try {
        const failed = fresh.get(keyFor(report))?.error;
        if (failed !== undefined) {
          throw failed;
        }
        return { ok: true, share: this.open(report) };
      } catch (e) {
        if (e instanceof CryptoError) {
          return { ok: false, error: e };
        }
        throw e;
      }
    });
  }

  private keysFor(report: Report): ShareKeyMaterial {
    const cacheKey = keyFor(report);
    const hit = this.cache.get(cacheKey);
    if (hit !== undefined) {
      // This exact D was checked in full when the entry was made.
      return hit;
    }
    const keys = deriveForD(this.key, report.d);
    this.cache.set(cacheKey, keys);
    return keys;
  }
}

export type ShareResult =
  { readonly ok: true; readonly share: DecryptedShare } | { readonly ok: false; readonly error: CryptoError };

function keyFor(report: Report): string {
  const d = report.d;
  return `${report.meterId}\u0000${Buffer.from(d.buffer, d.byteOffset, d.length).toString('latin1')}`;
}

/**
 * The decision procedure of ShareDecryptor.open with the share keys supplied by the caller (the
 * decryptor's cache, or the benchmark that times the pairing without the decoding of D).
 */
export function openWithKeys(
  key: ReceiverPrivateKey,
  report: Report,
  keysFor: (slot: number) => ShareKeyMaterial | undefined,
): DecryptedShare {
  const slot = report.receivers.findIndex((r) => r.id === key.id);
  const keys = keysFor(slot);
  const share = report.shares[slot];
  const receiver = report.receivers[slot];
  if (keys === undefined || share === undefined || receiver === undefined) {
    throw new ShareNotFoundError(key.id);
  }
  if (!keyCheckMatches(keys.keyCheck, share.keyCheck)) {
    const elsewhere = report.shares.findIndex(
      (s, i) => i !== slot && keyCheckMatches(keys.keyCheck, s.keyCheck),
    );
    if (elsewhere >= 0) {
      throw new ShareSwappedError(key.id, elsewhere);
    }
    if (!bytesEqual(receiver.keyFingerprint, key.fingerprint)) {
      throw new WrongKeyError(key.id);
    }
    if (report.shares.some((s, i) => i !== slot && bytesEqual(s.keyCheck, share.keyCheck))) {
      throw new ShareSwappedError(key.id, null);
    }
    throw new ShareNotKeyedError(key.id);
  }
  const header = report.header;
  if (!checkHeaderTag(keys, header, share.headerTag)) {
    throw new HeaderChangedError(key.id);
  }
  const plaintext = decryptShare(keys, report.nonce, header, receiver.index, share.ciphertext);
  if (plaintext === undefined) {
    throw new CiphertextTamperedError(key.id);
  }
  return {
    meterId: report.meterId,
    timestamp: report.timestamp,
    nonce: report.nonce,
    epoch: report.epoch,
    dimensions: decodeDimensions(plaintext),
  };
}

/**
 * U = e(D, x_R*Ypub2) with D checked in full first (DESIGN.md section 2, fix 4: D is about to be
 * paired with the receiver's secret), then K = H4(U, D).
 */
export function deriveForD(key: ReceiverPrivateKey, d: Uint8Array): ShareKeyMaterial {
  const point = decodeReportG1(d, 'D', 'full');
  return deriveForCheckedD(key, point, d);
}

/** The pairing and key derivation alone, for a D already checked in full. */
export function deriveForCheckedD(key: ReceiverPrivateKey, point: mcl.G1, d: Uint8Array): ShareKeyMaterial {
  return deriveShareKeys(pairWithKey(key, point), d, key.index);
}

/** U = e(D, x_R*Ypub2): one Miller loop from the precomputed lines and one final exponentiation. */
function pairWithKey(key: ReceiverPrivateKey, point: mcl.G1): mcl.GT {
  return mcl.finalExp(mcl.precomputedMillerLoop(point, receiverSecret(key).lines));
}
