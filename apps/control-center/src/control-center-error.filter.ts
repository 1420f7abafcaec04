import {
  type ArgumentsHost,
  Catch,
  type ExceptionFilter,
  HttpException,
  HttpStatus,
  Logger,
} from '@nestjs/common';
import type { Response } from 'express';

import { CryptoError } from '@app/crypto';
import { DomainError } from '@app/kernel';
import { NodeRequestError } from '@app/control-center';

const STATUS: Record<string, number> = {
  'PARTIAL_KEY.BAD_REQUEST': HttpStatus.BAD_REQUEST,
  'PARTIAL_KEY.STALE': HttpStatus.UNPROCESSABLE_ENTITY,
  'PARTIAL_KEY.UNKNOWN': HttpStatus.NOT_FOUND,
  'PARTIAL_KEY.REVOKED': HttpStatus.CONFLICT,
  'PARTIAL_KEY.BAD_SIGNATURE': HttpStatus.UNAUTHORIZED,
  'PARTIAL_KEY.CONFLICT': HttpStatus.CONFLICT,
};

/** JSON errors { statusCode, code, message }, as the node answers them. */
@Catch()
export class ControlCenterErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('HTTP');

  catch(error: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    let statusCode: number;
    let code: string;
    let message: string;
    if (error instanceof DomainError) {
      statusCode = STATUS[error.code] ?? HttpStatus.BAD_REQUEST;
      code = error.code;
      message = error.message;
    } else if (error instanceof CryptoError) {
      statusCode = HttpStatus.BAD_REQUEST;
      code = error.code;
      message = error.message;
    } else if (error instanceof NodeRequestError) {
      // The node refused or could not be reached: the CC cannot answer for it.
      statusCode = HttpStatus.BAD_GATEWAY;
      code = `NODE.${error.code}`;
      message = `the node refused: ${error.message}`;
    } else if (error instanceof HttpException) {
      statusCode = error.getStatus();
      code = `HTTP.${HttpStatus[statusCode] ?? statusCode}`;
      message = error.message;
    } else {
      this.logger.error(`unexpected error: ${(error as Error)?.message}`, (error as Error)?.stack);
      statusCode = 500;
      code = 'INTERNAL';
      message = 'internal error';
    }
    response.status(statusCode).json({ statusCode, code, message });
  }
}
