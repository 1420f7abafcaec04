import {
  type ArgumentsHost,
  Catch,
  type ExceptionFilter,
  HttpException,
  HttpStatus,
  Logger,
} from '@nestjs/common';
import type { Response } from 'express';
import { GraphQLError } from 'graphql';

import { IntakeBackPressureError } from '@app/intake';
import { CryptoError } from '@app/crypto';
import { DomainError } from '@app/kernel';

/** HTTP status of each error code (by exact code, then by prefix); anything else that is a DomainError is a 400. */
const STATUS_BY_CODE: Record<string, number> = {
  'TX.UNKNOWN_SENDER': HttpStatus.FORBIDDEN,
  'TX.BAD_SIGNATURE': HttpStatus.UNAUTHORIZED,
  'TX.NOT_ALLOWED': HttpStatus.FORBIDDEN,
  'TX.WRONG_CHAIN': HttpStatus.UNPROCESSABLE_ENTITY,
  'TX.STALE': HttpStatus.UNPROCESSABLE_ENTITY,
  'TX.FUTURE': HttpStatus.UNPROCESSABLE_ENTITY,
  'TX.INVALID_BODY': HttpStatus.BAD_REQUEST,
  'TX.MALFORMED': HttpStatus.BAD_REQUEST,
  'REGISTRY.ALREADY_REGISTERED': HttpStatus.CONFLICT,
  'REGISTRY.ALREADY_ACTIVE': HttpStatus.CONFLICT,
  'REGISTRY.UNKNOWN': HttpStatus.NOT_FOUND,
  'REGISTRY.REVOKED': HttpStatus.CONFLICT,
  'REGISTRY.BAD_KEY': HttpStatus.UNPROCESSABLE_ENTITY,
  'REGISTRY.BAD_POLICY': HttpStatus.UNPROCESSABLE_ENTITY,
  'EVENT_STORE.CONCURRENCY_CONFLICT': HttpStatus.CONFLICT,
  'REPORT.MALFORMED': HttpStatus.BAD_REQUEST,
  'REPORT.UNKNOWN_METER': HttpStatus.UNPROCESSABLE_ENTITY,
  'REPORT.METER_REVOKED': HttpStatus.UNPROCESSABLE_ENTITY,
  'REPORT.METER_NOT_ACTIVE': HttpStatus.UNPROCESSABLE_ENTITY,
  'REPORT.STALE': HttpStatus.UNPROCESSABLE_ENTITY,
  'REPORT.FUTURE': HttpStatus.UNPROCESSABLE_ENTITY,
  'REPORT.REPLAYED': HttpStatus.CONFLICT,
  'REPORT.UNKNOWN_RECEIVER': HttpStatus.UNPROCESSABLE_ENTITY,
  'REPORT.POLICY_MISMATCH': HttpStatus.UNPROCESSABLE_ENTITY,
  'REPORT.BAD_SIGNATURE': HttpStatus.UNPROCESSABLE_ENTITY,
  'REPORT.BAD_POINT': HttpStatus.UNPROCESSABLE_ENTITY,
  'REPORT.DUPLICATE_IN_BATCH': HttpStatus.CONFLICT,
  'INTAKE.BUSY': HttpStatus.TOO_MANY_REQUESTS,
  'INTAKE.MEMPOOL_FULL': HttpStatus.SERVICE_UNAVAILABLE,
  'INTAKE.CATCHING_UP': HttpStatus.SERVICE_UNAVAILABLE,
  'INTAKE.UNAVAILABLE': HttpStatus.SERVICE_UNAVAILABLE,
  'P2P.UNKNOWN_SENDER': HttpStatus.FORBIDDEN,
  'P2P.BAD_MAC': HttpStatus.UNAUTHORIZED,
  'P2P.STALE': HttpStatus.UNPROCESSABLE_ENTITY,
  NOT_FOUND: HttpStatus.NOT_FOUND,
};

/** The crypto library's refusals of what a client sent (bad encodings and points): 400, not 500. */
const CLIENT_CRYPTO_CODES: ReadonlySet<string> = new Set([
  'CRYPTO.ENCODING_TRUNCATED',
  'CRYPTO.ENCODING_OVERSIZED',
  'CRYPTO.MALFORMED_ENCODING',
  'CRYPTO.POINT_NOT_ON_CURVE',
  'CRYPTO.POINT_NOT_IN_SUBGROUP',
  'CRYPTO.POINT_IS_IDENTITY',
  'CRYPTO.SCALAR_OUT_OF_RANGE',
  'CRYPTO.INVALID_IDENTIFIER',
  'CRYPTO.REPORT_MALFORMED',
  'CRYPTO.LIMIT_EXCEEDED',
]);

/** Codes by family: a block is refused as unprocessable whatever rule it breaks. */
const STATUS_BY_PREFIX: ReadonlyArray<[string, number]> = [['BLOCK.', HttpStatus.UNPROCESSABLE_ENTITY]];

export function statusOf(code: string): number {
  return (
    STATUS_BY_CODE[code] ??
    STATUS_BY_PREFIX.find(([prefix]) => code.startsWith(prefix))?.[1] ??
    HttpStatus.BAD_REQUEST
  );
}

/** Nest's HTTP errors carry a string, or { message: string | string[] } (validation). */
function messageOf(payload: string | object, fallback: string): string {
  if (typeof payload === 'string') {
    return payload;
  }
  const message = (payload as { message?: unknown }).message;
  if (Array.isArray(message)) {
    return message.map(String).join('; ');
  }
  return typeof message === 'string' ? message : fallback;
}

export interface ErrorBody {
  statusCode: number;
  code: string;
  message: string;
  details?: Readonly<Record<string, unknown>>;
}

/**
 * Every error leaves as JSON { statusCode, code, message, details? }: domain errors with their stable
 * code, Nest's HTTP errors (validation, 404, 413...) with an HTTP.* code, and anything unexpected as a
 * generic 500 (logged here, never shown).
 */
@Catch()
export class DomainErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('HTTP');

  catch(error: unknown, host: ArgumentsHost): unknown {
    if (host.getType<string>() === 'graphql') {
      return graphqlErrorOf(error, this.logger);
    }
    const response = host.switchToHttp().getResponse<Response>();
    let body: ErrorBody;
    if (error instanceof CryptoError && CLIENT_CRYPTO_CODES.has(error.code)) {
      body = {
        statusCode: HttpStatus.BAD_REQUEST,
        code: error.code,
        message: error.message,
        details: error.details,
      };
    } else if (error instanceof DomainError) {
      body = {
        statusCode: statusOf(error.code),
        code: error.code,
        message: error.message,
        details: error.details,
      };
      if (error instanceof IntakeBackPressureError) {
        response.setHeader('Retry-After', String(error.retryAfterSeconds));
      }
    } else if (error instanceof HttpException) {
      const status = error.getStatus();
      const payload = error.getResponse();
      const message = messageOf(payload, error.message);
      // Guards answer with their own stable code (AUTH.*); Nest's own errors get an HTTP.* one.
      const code = typeof payload === 'object' ? (payload as { code?: unknown }).code : undefined;
      body = {
        statusCode: status,
        code: typeof code === 'string' ? code : `HTTP.${HttpStatus[status] ?? status}`,
        message,
      };
    } else {
      this.logger.error(`unexpected error: ${(error as Error)?.message}`, (error as Error)?.stack);
      body = { statusCode: 500, code: 'INTERNAL', message: 'internal error' };
    }
    response.status(body.statusCode).json(body);
    return undefined;
  }
}

/**
 * GraphQL answers errors in its own envelope: the same stable code and message as the REST API, in
 * the error's extensions; anything unexpected is logged here and leaves as a generic error.
 */
function graphqlErrorOf(error: unknown, logger: Logger): GraphQLError {
  if (error instanceof GraphQLError) {
    return error;
  }
  if (error instanceof DomainError) {
    return new GraphQLError(error.message, {
      extensions: { code: error.code, status: statusOf(error.code) },
    });
  }
  if (error instanceof HttpException) {
    const payload = error.getResponse();
    const code = typeof payload === 'object' ? (payload as { code?: unknown }).code : undefined;
    return new GraphQLError(messageOf(payload, error.message), {
      extensions: {
        code: typeof code === 'string' ? code : `HTTP.${HttpStatus[error.getStatus()] ?? error.getStatus()}`,
        status: error.getStatus(),
      },
    });
  }
  logger.error(`unexpected error: ${(error as Error)?.message}`, (error as Error)?.stack);
  return new GraphQLError('internal error', { extensions: { code: 'INTERNAL' } });
}
