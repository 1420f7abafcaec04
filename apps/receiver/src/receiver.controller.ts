import {
  BadRequestException,
  Body,
  Controller,
  Get,
  HttpCode,
  HttpStatus,
  Inject,
  Param,
  Post,
  Put,
  Query,
} from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { SkipThrottle } from '@nestjs/throttler';

import { Access, Public } from '@app/auth';
import { Pool } from 'pg';

import type { ReceiverConfig } from '@app/config';
import { toHex } from '@app/crypto';
import { KeyUserMonitor, parseKeyUserConfig, recoverSeries } from '@app/receivers';

import { ChainFollower } from './chain-follower';
import { HeadWitness } from './head-witness';
import {
  limitParam,
  meterIdParam,
  optionalMeterIdParam,
  RECEIVER_CONFIG,
  RECEIVER_DB,
} from './receiver.tokens';
import { ReceiverAnalyses } from './analyses';

@ApiTags('receiver')
@ApiBearerAuth()
@Access('self')
@Controller()
export class ReceiverController {
  constructor(
    private readonly follower: ChainFollower,
    @Inject(RECEIVER_DB) private readonly db: Pool,
    @Inject(RECEIVER_CONFIG) private readonly config: ReceiverConfig,
    private readonly analyses: ReceiverAnalyses,
    private readonly witness: HeadWitness,
  ) {}

  @Get('health/live')
  @Public()
  @SkipThrottle()
  live() {
    return { status: 'ok' };
  }

  @Get('status')
  @ApiOperation({ summary: 'How far this receiver has followed the final chain, and what it holds.' })
  status() {
    return this.follower.status();
  }

  @Get('witness')
  @ApiOperation({
    summary:
      "The nodes' signed head digests this receiver keeps as an outside witness: the latest from each node, and every digest that contradicts a block processed here or another node's digest (a rewritten history).",
  })
  witnessStatus() {
    return this.witness.status();
  }

  @Get('readings')
  @ApiQuery({ name: 'meter', required: false })
  @ApiQuery({ name: 'limit', required: false, description: '1 to 1000, default 100' })
  @ApiOperation({ summary: "This receiver's decrypted readings, newest first (its own share only)." })
  async readings(@Query('meter') meter?: string, @Query('limit') limit?: string) {
    const { rows } = await this.db.query<{
      report_id: Buffer;
      meter_id: string;
      nonce: string;
      read_at: Date;
      height: string;
      position: number;
      dimensions: Record<string, number | string>;
    }>(
      `SELECT report_id, meter_id, nonce, read_at, height, position, dimensions FROM receiver_readings
       WHERE receiver_id = $1 AND ($2::text IS NULL OR meter_id = $2) ORDER BY read_at DESC, report_id LIMIT $3`,
      [this.config.receiverId, optionalMeterIdParam(meter, 'meter') ?? null, limitParam(limit, 100, 1000)],
    );
    return rows.map((r) => ({
      reportId: toHex(r.report_id),
      meterId: r.meter_id,
      nonce: r.nonce,
      readAt: r.read_at,
      height: r.height,
      position: r.position,
      values: r.dimensions,
    }));
  }

  @Post('publications/:subject')
  @HttpCode(HttpStatus.ACCEPTED)
  @ApiOperation({
    summary:
      "Publishes an analysis on the chain as a receiver.publication transaction signed by this receiver's organisation: the SHA-256 of its full content and a short summary (theft-suspects: the suspects and their reason codes; device-report: devices with open or past faults and their fault types).",
  })
  async publish(@Param('subject') subject: string, @Query('hours') hours?: string) {
    if (subject !== 'theft-suspects' && subject !== 'device-report') {
      throw new BadRequestException('subject must be theft-suspects or device-report');
    }
    return this.analyses.publish(subject, limitParam(hours, 24, 720, 'hours'));
  }

  @Get('analyses/theft')
  @ApiQuery({
    name: 'hours',
    required: false,
    description: 'how far back the readings go, 1 to 720, default 24',
  })
  @ApiQuery({
    name: 'intervalMinutes',
    required: false,
    description: "the meters' reading interval, default 15",
  })
  @ApiOperation({
    summary:
      'Anti-theft, "high supply, low meter" (paper V.A), over this receiver\'s readings: suspects with reasons and evidence, largest unmetered energy first; needs the three-phase voltages and currents and the consumption in the share.',
  })
  theft(@Query('hours') hours?: string, @Query('intervalMinutes') intervalMinutes?: string) {
    return this.analyses.theft(
      limitParam(hours, 24, 720, 'hours'),
      limitParam(intervalMinutes, 15, 1440, 'intervalMinutes'),
    );
  }

  @Get('meters/:meterId/recovered')
  @ApiQuery({ name: 'hours', required: false, description: 'how far back, 1 to 720, default 24' })
  @ApiQuery({
    name: 'intervalMinutes',
    required: false,
    description: "the meter's reading interval, default 15",
  })
  @ApiOperation({
    summary:
      "One meter's readings put in interval order, with gaps after an outage filled and marked recovered (method per dimension), and what could not be recovered, with the reason (paper V.A, data recovery).",
  })
  async recovered(
    @Param('meterId') meterId: string,
    @Query('hours') hours?: string,
    @Query('intervalMinutes') intervalMinutes?: string,
  ) {
    meterIdParam(meterId);
    const window = limitParam(hours, 24, 720, 'hours');
    // Sending order is the meter's nonce order: a reading sent after a later interval's is late.
    const { rows } = await this.db.query<{ read_at: Date; dimensions: Record<string, number | string> }>(
      `SELECT read_at, dimensions FROM receiver_readings
       WHERE receiver_id = $1 AND meter_id = $2 AND read_at >= now() - make_interval(hours => $3)
       ORDER BY nonce`,
      [this.config.receiverId, meterId, window],
    );
    return recoverSeries({
      meterId,
      intervalMs: limitParam(intervalMinutes, 15, 1440, 'intervalMinutes') * 60_000,
      readings: rows.map((r) => ({ at: r.read_at.getTime(), values: r.dimensions })),
    });
  }

  @Put('settings/key-users')
  @ApiOperation({
    summary:
      "The control center's key users: the rules (consumption or current above a level, voltage outside a band, phase imbalance) and the meters each applies to. Validated, versioned.",
  })
  async putKeyUsers(@Body() body: unknown) {
    let config;
    try {
      config = parseKeyUserConfig(body);
    } catch (error) {
      throw new BadRequestException((error as Error).message);
    }
    const { rows } = await this.db.query<{ version: number }>(
      `INSERT INTO receiver_settings (receiver_id, name, version, value, updated_at) VALUES ($1, 'key-users', 1, $2, now())
       ON CONFLICT (receiver_id, name) DO UPDATE SET version = receiver_settings.version + 1, value = EXCLUDED.value, updated_at = now()
       RETURNING version`,
      [this.config.receiverId, JSON.stringify(config)],
    );
    return { version: rows[0]!.version, watched: config.watch.length, rules: config.rules.length };
  }

  @Get('analyses/key-users')
  @ApiQuery({ name: 'hours', required: false, description: 'how far back, 1 to 720, default 24' })
  @ApiOperation({ summary: "Alerts on the key users' readings by their rules, newest first." })
  async keyUsers(@Query('hours') hours?: string) {
    const window = limitParam(hours, 24, 720, 'hours');
    const { rows: settings } = await this.db.query<{ value: unknown; version: number }>(
      `SELECT value, version FROM receiver_settings WHERE receiver_id = $1 AND name = 'key-users'`,
      [this.config.receiverId],
    );
    if (!settings[0]) {
      return { version: null, alerts: [] };
    }
    const monitor = new KeyUserMonitor(parseKeyUserConfig(settings[0].value));
    const { rows } = await this.db.query<{
      meter_id: string;
      read_at: Date;
      dimensions: Record<string, number | string>;
    }>(
      `SELECT meter_id, read_at, dimensions FROM receiver_readings
       WHERE receiver_id = $1 AND read_at >= now() - make_interval(hours => $2) ORDER BY read_at DESC`,
      [this.config.receiverId, window],
    );
    const alerts = rows
      .filter((r) => monitor.isWatched(r.meter_id))
      .flatMap((r) => monitor.check(r.meter_id, { at: r.read_at.getTime(), values: r.dimensions }));
    return { version: settings[0].version, alerts };
  }

  @Get('analyses/devices')
  @ApiQuery({
    name: 'hours',
    required: false,
    description: 'how far back the readings go, 1 to 8760, default 720',
  })
  @ApiQuery({
    name: 'intervalMinutes',
    required: false,
    description: "the meters' reading interval, default 15",
  })
  @ApiOperation({
    summary:
      "The equipment supplier's view (paper Fig. 4) over this receiver's readings: each device's states and transitions, fault reports (device, location, type, event number, time), statistics, and a failure prediction; needs device_status in the share.",
  })
  devices(@Query('hours') hours?: string, @Query('intervalMinutes') intervalMinutes?: string) {
    return this.analyses.devices(
      limitParam(hours, 720, 8760, 'hours'),
      limitParam(intervalMinutes, 15, 1440, 'intervalMinutes'),
    );
  }

  @Get('tampered')
  @ApiQuery({ name: 'limit', required: false, description: '1 to 1000, default 100' })
  @ApiOperation({ summary: 'Reports whose share for this receiver did not open, with the reason.' })
  async tampered(@Query('limit') limit?: string) {
    const { rows } = await this.db.query<{
      report_id: Buffer;
      meter_id: string;
      nonce: string;
      height: string;
      position: number;
      code: string;
      message: string;
      flagged_at: Date;
    }>(
      `SELECT report_id, meter_id, nonce, height, position, code, message, flagged_at FROM receiver_tampered
       WHERE receiver_id = $1 ORDER BY height DESC, position LIMIT $2`,
      [this.config.receiverId, limitParam(limit, 100, 1000)],
    );
    return rows.map((r) => ({
      reportId: toHex(r.report_id),
      meterId: r.meter_id,
      nonce: r.nonce,
      height: r.height,
      position: r.position,
      code: r.code,
      message: r.message,
      flaggedAt: r.flagged_at,
    }));
  }
}
