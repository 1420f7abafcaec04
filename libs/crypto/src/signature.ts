import { CryptoError } from './errors';
import { h2 } from './hash';
import { RegisteredMeter, registeredMeterPoints } from './keys';
import { mcl, ready } from './mcl';
import { msmG1, msmG2 } from './msm';
import { decodeReportG1, decodeReportG2 } from './points';
import { randomWeights64, systemRandom } from './random';
import { Report, reportInternals } from './report';
import { SystemParams, systemPoints } from './system';

/*
 * The certificateless signature of a report, with DESIGN.md section 2's fixes 1-4.
 *
 *   beta = H2(signing input), the signing input being
 *          report bytes from the version byte through W (header with ID_S, timestamp, nonce, epoch,
 *          D and receivers; every share; W) || Y_S || alpha || Ypub1 || Ypub2
 *   T    = (beta*x_S + h + w)*Q
 *   valid  iff  e(P1, T) == e(beta*Y_S + A + W, Q),   A = alpha + eta*Ypub1
 *
 * beta covers W (fix 1: otherwise W can be solved for after beta, see the forgery test), and the
 * timestamp and nonce (fix 2: replay fields under the signature).
 */

/** Verdict of one report: valid, or the stable code of what failed. */
export type ReportVerdict =
  { readonly valid: true } | { readonly valid: false; readonly code: string; readonly message: string };

export const SIGNATURE_INVALID = 'CRYPTO.SIGNATURE_INVALID';
export const METER_MISMATCH = 'CRYPTO.METER_MISMATCH';

const VALID: ReportVerdict = Object.freeze({ valid: true });

function invalid(code: string, message: string): ReportVerdict {
  return { valid: false, code, message };
}

/** The signing input (as parts, hashed as their concatenation). `prefix` ends with W. */
export function signingInput(
  prefix: Uint8Array,
  meter: { readonly publicKey: Uint8Array; readonly alpha: Uint8Array },
  params: SystemParams,
): Uint8Array[] {
  return [prefix, meter.publicKey, meter.alpha, params.ypub1, params.ypub2];
}

export function reportBeta(
  report: Report,
  meter: { readonly publicKey: Uint8Array; readonly alpha: Uint8Array },
  params: SystemParams,
): mcl.Fr {
  const { bodyEnd } = reportInternals(report);
  return h2(signingInput(report.bytes.subarray(0, bodyEnd + report.w.length), meter, params));
}

/**
 * W and T of a report, decoded with every check, once per Report object (the result, or the
 * failure, is cached on the report): a node that verified a report at intake never decodes it again.
 */
export function signaturePoints(report: Report): { w: mcl.G1; t: mcl.G2 } {
  const cache = reportInternals(report).cache;
  if (cache.signatureError !== undefined) {
    throw cache.signatureError;
  }
  if (cache.w === undefined || cache.t === undefined) {
    try {
      cache.w = decodeReportG1(report.w, 'W');
      cache.t = decodeReportG2(report.t, 'T');
    } catch (e) {
      if (e instanceof CryptoError) {
        cache.signatureError = e;
      }
      throw e;
    }
  }
  return { w: cache.w, t: cache.t };
}

/** D checked to be a curve point (not the identity), as a node does; cached like W and T. */
export function curveCheckedD(report: Report): mcl.G1 {
  const cache = reportInternals(report).cache;
  cache.dCurve ??= decodeReportG1(report.d, 'D', 'curve');
  return cache.dCurve;
}

/**
 * What a node checks before it accepts a report: W and T decode with every check, D decodes to a
 * curve point, and the signature equation holds (computed as one multi-pairing: two Miller loops,
 * one final exponentiation, Q's lines precomputed).
 */
export function verifyReport(params: SystemParams, report: Report, meter: RegisteredMeter): ReportVerdict {
  const { P1 } = ready();
  if (report.meterId !== meter.id) {
    return invalid(METER_MISMATCH, `report of "${report.meterId}" checked against the key of "${meter.id}"`);
  }
  let w: mcl.G1;
  let t: mcl.G2;
  try {
    ({ w, t } = signaturePoints(report));
    curveCheckedD(report);
  } catch (e) {
    if (e instanceof CryptoError) {
      return invalid(e.code, e.message);
    }
    throw e;
  }
  const m = registeredMeterPoints(meter);
  const beta = reportBeta(report, meter, params);
  const x = mcl.add(mcl.add(mcl.mul(m.y, beta), m.a), w);
  const e = mcl.finalExp(mcl.precomputedMillerLoop2mixed(P1, t, mcl.neg(x), systemPoints(params).qLines));
  return e.isOne() ? VALID : invalid(SIGNATURE_INVALID, 'the signature equation does not hold');
}

export interface BatchItem {
  readonly report: Report;
  readonly meter: RegisteredMeter;
}

export interface BatchVerdict {
  /** True when every report of the batch is valid. */
  readonly allValid: boolean;
  /** Positions (in the input) of the reports that are not valid, ascending. */
  readonly invalid: readonly number[];
  /** One verdict per input report. */
  readonly verdicts: readonly ReportVerdict[];
}

/**
 * sum (rho_i*beta_i)*Y_i over [lo, hi), with the scalars of one meter's reports added first: the
 * full-width multi-scalar multiplication is the most expensive part of the batch, and a batch that
 * holds several reports of one meter (catch-up, a busy meter) needs its Y only once.
 */
function sumByMeter(ys: readonly mcl.G1[], scalars: readonly mcl.Fr[], lo: number, hi: number): mcl.G1 {
  const byKey = new Map<mcl.G1, number>();
  const points: mcl.G1[] = [];
  const sums: mcl.Fr[] = [];
  for (let k = lo; k < hi; k++) {
    const y = ys[k] as mcl.G1;
    const s = scalars[k] as mcl.Fr;
    const at = byKey.get(y);
    if (at === undefined) {
      byKey.set(y, points.length);
      points.push(y);
      sums.push(s);
    } else {
      sums[at] = mcl.add(sums[at] as mcl.Fr, s);
    }
  }
  return msmG1(points, sums);
}

/**
 * Batch verification with random weights (DESIGN.md section 2, fix 3):
 *
 *   e(P1, sum rho_i*T_i) == e(sum (rho_i*beta_i)*Y_i + sum rho_i*(A_i + W_i), Q)
 *
 * rho_i are fresh 64-bit CSPRNG values unknown to the submitters, so errors in two signatures cannot
 * be made to cancel (the plain sum of paper eq. 2 can). Three multi-scalar multiplications (two with
 * 64-bit scalars, which mcl runs about 3.6 times faster) and one two-pair multi-pairing. When the
 * check fails the batch is bisected with the same weights, so that the product structure holds: if
 * a failing set's left half passes, its right half must fail and is not re-checked. The result names
 * exactly the bad reports; good ones are never rejected with them.
 */
export function verifyReportBatch(params: SystemParams, items: readonly BatchItem[]): BatchVerdict {
  const { P1 } = ready();
  const { qLines } = systemPoints(params);
  const verdicts: ReportVerdict[] = new Array<ReportVerdict>(items.length).fill(VALID);

  // Candidates: reports whose points decode; everything else already has its verdict.
  const pos: number[] = [];
  const ts: mcl.G2[] = [];
  const aws: mcl.G1[] = [];
  const ys: mcl.G1[] = [];
  const betas: mcl.Fr[] = [];
  for (const [i, { report, meter }] of items.entries()) {
    if (report.meterId !== meter.id) {
      verdicts[i] = invalid(
        METER_MISMATCH,
        `report of "${report.meterId}" checked against the key of "${meter.id}"`,
      );
      continue;
    }
    try {
      const { w, t } = signaturePoints(report);
      curveCheckedD(report);
      const m = registeredMeterPoints(meter);
      pos.push(i);
      ts.push(t);
      aws.push(mcl.add(m.a, w));
      ys.push(m.y);
      betas.push(reportBeta(report, meter, params));
    } catch (e) {
      if (e instanceof CryptoError) {
        verdicts[i] = invalid(e.code, e.message);
        continue;
      }
      throw e;
    }
  }

  const rho = randomWeights64(pos.length, systemRandom);
  const rhoBeta = rho.map((r, k) => mcl.mul(r, betas[k] as mcl.Fr));

  const check = (lo: number, hi: number): boolean => {
    const sumT = msmG2(ts, rho, lo, hi);
    const x = mcl.add(msmG1(aws, rho, lo, hi), sumByMeter(ys, rhoBeta, lo, hi));
    return mcl.finalExp(mcl.precomputedMillerLoop2mixed(P1, sumT, mcl.neg(x), qLines)).isOne();
  };

  const bad: number[] = [];
  // Called only on ranges known to fail.
  const bisect = (lo: number, hi: number): void => {
    if (hi - lo === 1) {
      bad.push(lo);
      return;
    }
    const mid = (lo + hi) >>> 1;
    if (check(lo, mid)) {
      bisect(mid, hi);
      return;
    }
    bisect(lo, mid);
    if (!check(mid, hi)) {
      bisect(mid, hi);
    }
  };
  if (pos.length > 0 && !check(0, pos.length)) {
    bisect(0, pos.length);
  }
  for (const k of bad) {
    verdicts[pos[k] as number] = invalid(SIGNATURE_INVALID, 'the signature equation does not hold');
  }

  const invalidPositions: number[] = [];
  for (const [i, v] of verdicts.entries()) {
    if (!v.valid) {
      invalidPositions.push(i);
    }
  }
  return { allValid: invalidPositions.length === 0, invalid: invalidPositions, verdicts };
}
