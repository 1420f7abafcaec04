import {
  BadRequestException,
  Body,
  Controller,
  Get,
  HttpCode,
  HttpStatus,
  NotFoundException,
  Param,
  Post,
  Res,
} from '@nestjs/common';
import { ApiBody, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';

import { SkipThrottle } from '@nestjs/throttler';

import { Public } from '@app/auth';
import { ChainQueries } from '@app/chain';
import { type IntakeOutcome, ReportIntakeService, ReportRefusedError } from '@app/intake';
import { isHashHex } from '@app/ledger';

export const MAX_BATCH_REPORTS = 2_000;

const REPORT_SCHEMA = {
  type: 'object',
  description: 'A signcrypted meter report in its JSON form (see docs/crypto.md, "Wire format").',
  required: ['version', 'meterId', 'timestamp', 'nonce', 'epoch', 'D', 'receivers', 'shares', 'signature'],
};

@ApiTags('reports')
@Public()
@Controller('reports')
export class ReportsController {
  constructor(
    private readonly intake: ReportIntakeService,
    private readonly queries: ChainQueries,
  ) {}

  // Meters: each report is signcrypted and signed, and intake has its own back-pressure (429/503
  // with Retry-After), so submissions are not rate-limited per address; reads are.
  @Post()
  @SkipThrottle()
  @ApiOperation({
    summary:
      'Submit one report. 201 with a receipt once it is verified and durable; 200 with the same receipt if it was accepted before.',
  })
  @ApiBody({ schema: REPORT_SCHEMA })
  async submitOne(@Body() body: unknown, @Res({ passthrough: true }) response: Response) {
    const [outcome] = await this.intake.submit([body]);
    const receipt = unwrap(outcome!);
    response.status(receipt.duplicate ? HttpStatus.OK : HttpStatus.CREATED);
    return receipt;
  }

  @Post('batch')
  @SkipThrottle()
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary: `Submit up to ${MAX_BATCH_REPORTS} reports. Each gets its own receipt or refusal; one bad report never rejects the others.`,
  })
  @ApiBody({
    schema: {
      type: 'object',
      required: ['reports'],
      properties: { reports: { type: 'array', items: REPORT_SCHEMA } },
    },
  })
  async submitBatch(@Body() body: unknown) {
    const reports = (body as { reports?: unknown } | null)?.reports;
    if (!Array.isArray(reports) || Object.keys(body as object).length !== 1) {
      throw new BadRequestException('the body must be { "reports": [ ... ] } and nothing else');
    }
    if (reports.length === 0 || reports.length > MAX_BATCH_REPORTS) {
      throw new BadRequestException(
        `a batch holds 1 to ${MAX_BATCH_REPORTS} reports (got ${reports.length})`,
      );
    }
    const outcomes = await this.intake.submit(reports);
    const results = outcomes.map((o, index) => (o.ok ? { index, ...o.receipt } : { index, error: o.error }));
    return {
      accepted: outcomes.filter((o) => o.ok).length,
      rejected: outcomes.filter((o) => !o.ok).length,
      results,
    };
  }

  @Get(':id')
  @ApiParam({ name: 'id', description: 'report id (hex)' })
  @ApiOperation({
    summary:
      'A report this node holds, in its JSON form, and where it is: final (with its block), included in a block not final yet, or pending.',
  })
  async byId(@Param('id') id: string) {
    if (!isHashHex(id)) {
      throw new BadRequestException('a report id is 64 lower-case hex characters');
    }
    const found = await this.queries.report(id);
    if (!found) {
      throw new NotFoundException(`no report ${id} on this node`);
    }
    return found;
  }
}

function unwrap(outcome: IntakeOutcome) {
  if (outcome.ok) {
    return outcome.receipt;
  }
  throw new ReportRefusedError(outcome.error.code, outcome.error.message);
}
