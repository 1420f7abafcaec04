import {
  ConflictException,
  Controller,
  Get,
  HttpCode,
  HttpStatus,
  Inject,
  NotFoundException,
  Param,
  Post,
  Query,
  Req,
} from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiParam, ApiQuery, ApiTags } from '@nestjs/swagger';

import { Access, type AuthenticatedRequest } from '@app/auth';
import { ChainContext } from '@app/chain';
import { APP_CONFIG, type AppConfig } from '@app/config';
import { ReportIntakeService } from '@app/intake';
import { ALL_QUEUES } from '@app/queue';

import { choiceParameter, idParameter, limitParameter } from '../http/query-parameters';
import { AlarmFeed } from './alarm-feed';
import { alarmCursorParameter, jobIdParameter, rangeParameter, textParameter } from './console-query';
import { ConsoleReads } from './console-reads';
import type {
  AlarmPage,
  ChartsView,
  ConsoleSession,
  MempoolView,
  MeterPage,
  QueuesView,
  RetryResult,
  StandingView,
} from './console.types';
import { IntakeSampler } from './intake-sampler';
import { QueueInspector } from './queue-inspector';

/** A path parameter is always given: only its value can be wrong. */
const queueParameter = (value: string): string => choiceParameter(value, 'queue', ALL_QUEUES)!;

/**
 * The admin API behind the ops console (apps/console): what the existing endpoints do not already
 * give (/chain/status, /schedule, /missed-slots, /delegates, /blocks, /receivers, /meters/:id and
 * POST /chain/verify are used as they are). Admins only, on every handler.
 */
@ApiTags('console')
@ApiBearerAuth()
@Controller('admin')
export class ConsoleController {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly context: ChainContext,
    private readonly intake: ReportIntakeService,
    private readonly sampler: IntakeSampler,
    private readonly reads: ConsoleReads,
    private readonly alarmFeed: AlarmFeed,
    private readonly inspector: QueueInspector,
  ) {}

  @Get('session')
  @Access('admin')
  @ApiOperation({
    summary: "The admin key that signs the call, and the node's chain parameters (the console's login).",
  })
  session(@Req() request: AuthenticatedRequest): ConsoleSession {
    const principal = request.principal;
    const timing = this.context.timing;
    return {
      keyId: principal?.id ?? '',
      name: principal?.kind === 'admin' ? principal.name : '',
      nodeId: this.context.nodeId,
      chainId: this.context.chainId,
      slotMs: timing.slotMs,
      producers: timing.producers,
      maxBlockTransactions: this.config.chain.maxBlockTransactions,
    };
  }

  @Get('mempool')
  @Access('admin')
  @ApiOperation({ summary: 'Mempool depth, and the reports accepted per second over the last minutes.' })
  async mempool(): Promise<MempoolView> {
    const load = this.intake.load();
    return {
      reports: load.mempool,
      transactions: await this.reads.mempoolTransactions(),
      verifying: load.queued,
      intakePerSecond: this.sampler.ratePerSecond(),
      samples: this.sampler.history(),
    };
  }

  @Get('queues')
  @Access('admin')
  @ApiQuery({
    name: 'failed',
    required: false,
    description: 'failed jobs listed per queue, 0 to 100, default 20',
  })
  @ApiOperation({
    summary:
      "Job counts of the node's BullMQ queues, their failed jobs (attempts exhausted), and the undelivered outbox.",
  })
  queues(@Query() query: Record<string, unknown>): Promise<QueuesView> {
    return this.inspector.overview(rangeParameter(query.failed, 'failed', 0, 100, 20));
  }

  @Post('queues/:queue/jobs/:jobId/retry')
  @Access('admin')
  @HttpCode(HttpStatus.OK)
  @ApiParam({ name: 'queue', description: ALL_QUEUES.join(', ') })
  @ApiParam({ name: 'jobId' })
  @ApiOperation({ summary: 'Retry one failed job: it waits for a worker again, with its attempts anew.' })
  async retryJob(@Param('queue') queueValue: string, @Param('jobId') jobValue: string): Promise<RetryResult> {
    const queue = queueParameter(queueValue);
    const jobId = jobIdParameter(jobValue);
    const result = await this.inspector.retryJob(queue, jobId);
    switch (result.outcome) {
      case 'unknown':
        throw new NotFoundException(`no job ${jobId} in ${queue}`);
      case 'not-failed':
        throw new ConflictException(`job ${jobId} of ${queue} has not failed (it is ${result.state})`);
      case 'retried':
        return { queue, retried: 1 };
    }
  }

  @Post('queues/:queue/retry-failed')
  @Access('admin')
  @HttpCode(HttpStatus.OK)
  @ApiParam({ name: 'queue', description: ALL_QUEUES.join(', ') })
  @ApiOperation({ summary: 'Retry every failed job of a queue.' })
  retryFailed(@Param('queue') queue: string): Promise<RetryResult> {
    return this.inspector.retryFailed(queueParameter(queue));
  }

  @Get('alarms')
  @Access('admin')
  @ApiQuery({ name: 'limit', required: false, description: '1 to 200, default 50' })
  @ApiQuery({ name: 'cursor', required: false, description: "a page's next (height:position), or a height" })
  @ApiOperation({
    summary:
      'Alarms on the final chain, newest first: contract results that need attention (tampered data, power saving, forced trips, payment notices) and published findings (theft suspects, device faults).',
  })
  alarms(@Query() query: Record<string, unknown>): Promise<AlarmPage> {
    return this.alarmFeed.page(alarmCursorParameter(query.cursor), limitParameter(query.limit, 50, 200));
  }

  @Get('charts')
  @Access('admin')
  @ApiQuery({ name: 'blocks', required: false, description: 'last final blocks, 10 to 500, default 120' })
  @ApiQuery({ name: 'rounds', required: false, description: 'last rounds, 1 to 100, default 20' })
  @ApiQuery({
    name: 'minutes',
    required: false,
    description: 'last minutes of reports, 1 to 240, default 30',
  })
  @ApiOperation({
    summary: 'Reports and transactions per final block, missed slots per round, reports per minute.',
  })
  charts(@Query() query: Record<string, unknown>): Promise<ChartsView> {
    return this.reads.charts(
      rangeParameter(query.blocks, 'blocks', 10, 500, 120),
      rangeParameter(query.rounds, 'rounds', 1, 100, 20),
      rangeParameter(query.minutes, 'minutes', 1, 240, 30),
    );
  }

  @Get('standing')
  @Access('admin')
  @ApiQuery({
    name: 'rounds',
    required: false,
    description: 'rounds counted as recent, 1 to 1000, default 10',
  })
  @ApiOperation({
    summary:
      'Delegates ranked by stake-weighted votes, who is elected this round, blocks produced and slots missed; and the ballots.',
  })
  standing(@Query() query: Record<string, unknown>): Promise<StandingView> {
    return this.reads.standing(rangeParameter(query.rounds, 'rounds', 1, 1_000, 10));
  }

  @Get('meters')
  @Access('admin')
  @ApiQuery({ name: 'q', required: false, description: 'part of a meter id or location' })
  @ApiQuery({ name: 'status', required: false, description: 'registered, active or revoked' })
  @ApiQuery({ name: 'cursor', required: false, description: "a page's next (a meter id)" })
  @ApiQuery({ name: 'limit', required: false, description: '1 to 200, default 50' })
  @ApiOperation({
    summary: 'Meters by id, searched by id or location, with the height of their latest final report.',
  })
  meters(@Query() query: Record<string, unknown>): Promise<MeterPage> {
    return this.reads.meters({
      text: textParameter(query.q, 'q', 128),
      status: choiceParameter(query.status, 'status', ['registered', 'active', 'revoked']),
      after: idParameter(query.cursor, 'cursor'),
      limit: limitParameter(query.limit, 50, 200),
    });
  }
}
