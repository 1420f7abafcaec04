import { createHash } from 'node:crypto';

import {
  BadGatewayException,
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
import { canonicalJson } from '@app/kernel';
import { Transaction } from '@app/ledger';
import {
  analyseTheft,
  classStatistics,
  deviceStatistics,
  faultReports,
  KeyUserMonitor,
  parseKeyUserConfig,
  predictFailures,
  recoverSeries,
  trackDeviceStates,
} from '@app/receivers';

import { ChainFollower } from './chain-follower';
import {
  limitParam,
  RECEIVER_CONFIG,
  RECEIVER_DB,
  RECEIVER_RUNTIME,
  type ReceiverRuntime,
} from './receiver.tokens';
import { NodeMeters } from './node-meters';

@ApiTags('receiver')
@ApiBearerAuth()
@Access('self')
@Controller()
export class ReceiverController {
  constructor(
    private readonly follower: ChainFollower,
    @Inject(RECEIVER_DB) private readonly db: Pool,
    @Inject(RECEIVER_CONFIG) private readonly config: ReceiverConfig,
    @Inject(RECEIVER_RUNTIME) private readonly runtime: ReceiverRuntime,
    private readonly meters: NodeMeters,
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
      [this.config.receiverId, meter ?? null, limitParam(limit, 100, 1000)],
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
    const window = limitParam(hours, 24, 720, 'hours');
    let content: object;
    let summary: Array<{ id: string; codes: string[] }>;
    if (subject === 'theft-suspects') {
      const theft = await this.theft(String(window));
      content = theft;
      summary = theft.suspects.map((s) => ({ id: s.meterId, codes: s.reasons.map((r) => r.code) }));
    } else if (subject === 'device-report') {
      const devices = await this.devices(String(window));
      content = devices;
      summary = devices.devices
        .filter((d) => d.faults.length > 0)
        .map((d) => ({ id: d.deviceId, codes: [...new Set(d.faults.map((f) => String(f.faultType)))] }));
    } else {
      throw new BadRequestException('subject must be theft-suspects or device-report');
    }
    const to = Date.now();
    const contentHash = createHash('sha256').update(canonicalJson(content)).digest('hex');
    const tx = Transaction.sign(
      {
        chainId: this.runtime.chainId,
        kind: 'receiver.publication',
        sender: this.config.organisation.id,
        timestamp: to,
        body: {
          receiverId: this.config.receiverId,
          subject,
          from: to - window * 3_600_000,
          to,
          contentHash,
          summary: summary.slice(0, 200),
        },
      },
      this.runtime.organisationKey,
    );
    const response = await fetch(`${this.config.nodeUrl}/transactions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(tx.toJSON()),
      signal: AbortSignal.timeout(15_000),
    });
    if (!response.ok) {
      throw new BadGatewayException(
        `the node refused the publication: ${response.status} ${await response.text()}`,
      );
    }
    return { txHash: tx.hashHex, contentHash, summary, content };
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
  async theft(@Query('hours') hours?: string, @Query('intervalMinutes') intervalMinutes?: string) {
    const window = limitParam(hours, 24, 720, 'hours');
    const interval = limitParam(intervalMinutes, 15, 1440, 'intervalMinutes');
    const { rows } = await this.db.query<{
      meter_id: string;
      read_at: Date;
      dimensions: Record<string, number | string>;
    }>(
      `SELECT meter_id, read_at, dimensions FROM receiver_readings
       WHERE receiver_id = $1 AND read_at >= now() - make_interval(hours => $2) ORDER BY meter_id, read_at`,
      [this.config.receiverId, window],
    );
    const byMeter = new Map<string, Array<{ at: number; values: Record<string, number | string> }>>();
    for (const row of rows) {
      const list = byMeter.get(row.meter_id) ?? [];
      list.push({ at: row.read_at.getTime(), values: row.dimensions });
      byMeter.set(row.meter_id, list);
    }
    const report = analyseTheft(
      [...byMeter].map(([meterId, readings]) => ({ meterId, intervalMs: interval * 60_000, readings })),
    );
    return {
      windowHours: window,
      suspects: report.suspects,
      cleared: report.cleared.map((e) => ({ meterId: e.meterId, ratio: e.ratio })),
      undetermined: report.undetermined.map((u) => ({ meterId: u.meterId, reason: u.reason })),
    };
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
    if (!/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/.test(meterId)) {
      throw new BadRequestException('meterId is not a meter id');
    }
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
  async devices(@Query('hours') hours?: string, @Query('intervalMinutes') intervalMinutes?: string) {
    const window = limitParam(hours, 720, 8760, 'hours');
    const intervalMs = limitParam(intervalMinutes, 15, 1440, 'intervalMinutes') * 60_000;
    const { rows } = await this.db.query<{ meter_id: string; read_at: Date; status: string }>(
      `SELECT meter_id, read_at, dimensions->>'device_status' AS status FROM receiver_readings
       WHERE receiver_id = $1 AND read_at >= now() - make_interval(hours => $2) AND dimensions ? 'device_status'
       ORDER BY meter_id, read_at`,
      [this.config.receiverId, window],
    );
    const byMeter = new Map<string, Array<{ at: number; status: string }>>();
    for (const row of rows) {
      const list = byMeter.get(row.meter_id) ?? [];
      list.push({ at: row.read_at.getTime(), status: row.status });
      byMeter.set(row.meter_id, list);
    }
    const devices = [];
    for (const [meterId, observations] of byMeter) {
      const info = {
        deviceId: meterId,
        location: await this.locationOf(meterId),
        deviceClass: 'smart-meter',
      };
      const timeline = trackDeviceStates(meterId, observations, intervalMs);
      devices.push({
        info,
        state: timeline.segments.at(-1)?.state ?? null,
        transitions: timeline.transitions,
        impossible: timeline.impossible,
        faults: faultReports(timeline, info),
        statistics: deviceStatistics(timeline, info),
      });
    }
    const statistics = devices.map((d) => d.statistics);
    return {
      windowHours: window,
      devices: devices.map(({ info, ...rest }) => ({
        deviceId: info.deviceId,
        location: info.location,
        ...rest,
      })),
      classes: classStatistics(statistics),
      predictions: predictFailures(statistics),
    };
  }

  /** Where a device is: its registered location (from the node), or "unknown". */
  private async locationOf(meterId: string): Promise<string> {
    const meter = await this.meters.get(meterId).catch(() => undefined);
    return meter?.location ?? 'unknown';
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
