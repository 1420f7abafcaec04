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

/** Intake is saturated somewhere: not a verdict on the report; retry after `retryAfterSeconds`. */
export abstract class IntakeBackPressureError extends DomainError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(`${message}; retry in ${retryAfterSeconds} s`, { retryAfterSeconds });
  }
}

/** Too much waiting for verification: retry later (HTTP 429). */
export class IntakeBusyError extends IntakeBackPressureError {
  readonly code = 'INTAKE.BUSY';

  constructor(retryAfterSeconds: number) {
    super('the verification queue is full', retryAfterSeconds);
  }
}

/** Too much waiting for a block: retry later (HTTP 503). */
export class MempoolFullError extends IntakeBackPressureError {
  readonly code = 'INTAKE.MEMPOOL_FULL';

  constructor(retryAfterSeconds: number) {
    super('the mempool is full', retryAfterSeconds);
  }
}

/**
 * The node is behind the chain (blocks waiting to be checked, peers ahead of it): meters are turned
 * away until it has caught up, so that checking blocks gets the CPU (HTTP 503).
 */
export class NodeCatchingUpError extends IntakeBackPressureError {
  readonly code = 'INTAKE.CATCHING_UP';

  constructor(reason: string, retryAfterSeconds: number) {
    super(
      `this node is catching up with the chain (${reason}); another node may take the report now`,
      retryAfterSeconds,
    );
  }
}
