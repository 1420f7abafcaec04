import { DomainError } from '@app/kernel';

/**
 * Why a report was refused. Codes are stable (clients match on them); each maps to one HTTP status
 * (apps/node's error filter).
 */
export const REFUSAL = {
  malformed: 'REPORT.MALFORMED',
  unknownMeter: 'REPORT.UNKNOWN_METER',
  meterRevoked: 'REPORT.METER_REVOKED',
  meterNotActive: 'REPORT.METER_NOT_ACTIVE',
  stale: 'REPORT.STALE',
  future: 'REPORT.FUTURE',
  replayed: 'REPORT.REPLAYED',
  unknownReceiver: 'REPORT.UNKNOWN_RECEIVER',
  policyMismatch: 'REPORT.POLICY_MISMATCH',
  badSignature: 'REPORT.BAD_SIGNATURE',
  badPoint: 'REPORT.BAD_POINT',
  duplicateInBatch: 'REPORT.DUPLICATE_IN_BATCH',
  /** Not a verdict on the report: the node failed to store it; retry. */
  unavailable: 'INTAKE.UNAVAILABLE',
} as const;

export type RefusalCode = (typeof REFUSAL)[keyof typeof REFUSAL];

export class ReportRefusedError extends DomainError {
  constructor(
    readonly code: RefusalCode,
    message: string,
    details: Record<string, unknown> = {},
  ) {
    super(message, details);
  }
}

/** Too much waiting for verification: retry later (HTTP 429). */
export class IntakeBusyError extends DomainError {
  readonly code = 'INTAKE.BUSY';

  constructor(readonly retryAfterSeconds: number) {
    super(`the verification queue is full; retry in ${retryAfterSeconds} s`, { retryAfterSeconds });
  }
}

/** Too much waiting for a block: retry later (HTTP 503). */
export class MempoolFullError extends DomainError {
  readonly code = 'INTAKE.MEMPOOL_FULL';

  constructor(readonly retryAfterSeconds: number) {
    super(`the mempool is full; retry in ${retryAfterSeconds} s`, { retryAfterSeconds });
  }
}
