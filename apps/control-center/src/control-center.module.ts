import {
  Body,
  Controller,
  type DynamicModule,
  HttpCode,
  HttpStatus,
  Module,
  Param,
  Post,
} from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { ApiBody, ApiOperation, ApiTags } from '@nestjs/swagger';
import { LoggerModule } from 'nestjs-pino';

import type { ControlCenterConfig } from '@app/config';
import { CONTROL_CENTER_CONFIG, PartialKeyService } from '@app/control-center';
import { partialKeyRequestSchema, type PartialKeyResponse } from '@app/ledger';
import { InvalidInputError } from '@app/kernel';

import { ControlCenterErrorFilter } from './control-center-error.filter';

@ApiTags('partial keys')
@Controller('partial-keys')
export class PartialKeysController {
  constructor(private readonly service: PartialKeyService) {}

  @Post(':identity')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary:
      'A registered meter or receiver fetches its partial private key: the request is signed with its registered key; h comes back sealed to that key.',
  })
  @ApiBody({
    schema: {
      type: 'object',
      required: ['subject', 'timestamp', 'signature'],
      properties: {
        subject: { type: 'string', enum: ['meter', 'receiver'] },
        timestamp: { type: 'integer' },
        signature: {
          type: 'string',
          description: 'BLS signature (hex) of "<subject>:<identity>:<timestamp>"',
        },
      },
    },
  })
  issue(@Param('identity') identity: string, @Body() body: unknown): Promise<PartialKeyResponse> {
    const parsed = partialKeyRequestSchema.safeParse(body);
    if (!parsed.success) {
      throw new InvalidInputError(
        'PARTIAL_KEY.BAD_REQUEST',
        parsed.error.issues.map((i) => `${i.path.join('.') || 'body'} ${i.message}`).join('; '),
      );
    }
    return this.service.issue(identity, parsed.data);
  }
}

/** The control center's process (DESIGN.md section 1): partial-key issuance over HTTP. */
@Module({})
export class ControlCenterModule {
  static forRoot(config: ControlCenterConfig): DynamicModule {
    return {
      module: ControlCenterModule,
      imports: [
        LoggerModule.forRoot({
          pinoHttp: {
            level: config.logLevel,
            redact: ['req.headers.authorization', 'req.headers.cookie'],
          },
        }),
      ],
      controllers: [PartialKeysController],
      providers: [
        { provide: CONTROL_CENTER_CONFIG, useValue: config },
        PartialKeyService,
        { provide: APP_FILTER, useClass: ControlCenterErrorFilter },
      ],
    };
  }
}
