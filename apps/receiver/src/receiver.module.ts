import { createHash } from 'node:crypto';

import {
  BadGatewayException,
  BadRequestException,
  Body,
  Controller,
  type DynamicModule,
  Get,
  Headers,
  HttpCode,
  HttpStatus,
  Inject,
  Module,
  NotFoundException,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  Param,
  Post,
  Put,
  Query,
  UnauthorizedException,
} from '@nestjs/common';
import { ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { LoggerModule } from 'nestjs-pino';
import { Pool } from 'pg';
import { Registry } from 'prom-client';
import { z } from 'zod';

import type { ReceiverConfig } from '@app/config';
import {
  BlsPublicKey,
  blsVerify,
  type CryptoPool,
  fromHex,
  type PoolReceiver,
  type SecretScalar,
  toHex,
} from '@app/crypto';
import { canonicalJson } from '@app/kernel';
import { Transaction } from '@app/ledger';
import { MetricsModule } from '@app/metrics';
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
import { FeedbackContractRunner, METER_COMMANDS_TAG } from './feedback-contract';

export const RECEIVER_CONFIG = Symbol('RECEIVER_CONFIG');
export const RECEIVER_DB = Symbol('RECEIVER_DB');

/** What the bootstrap has opened before the module starts: the key in the worker pool, the chain's start. */
export interface ReceiverRuntime {
  crypto: CryptoPool;
  receiver: PoolReceiver;
  genesisHash: Uint8Array;
  chainId: string;
  /** The organisation's signing key, when this receiver runs a contract. */
  organisationKey?: SecretScalar;
}
export const RECEIVER_RUNTIME = Symbol('RECEIVER_RUNTIME');

function limitParam(value: string | undefined, fallback: number, max: number): number {
  if (value === undefined) {
    return fallback;
  }
  if (!/^\d{1,5}$/.test(value) || Number(value) < 1 || Number(value) > max) {
    throw new BadRequestException(`limit must be an integer from 1 to ${max}`);
  }
  return Number(value);
}

@ApiTags('receiver')
@Controller()
export class ReceiverController {
  constructor(
    private readonly follower: ChainFollower,
    @Inject(RECEIVER_DB) private readonly db: Pool,
    @Inject(RECEIVER_CONFIG) private readonly config: ReceiverConfig,
    @Inject(RECEIVER_RUNTIME) private readonly runtime: ReceiverRuntime,
  ) {}

  @Get('health/live')
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
    if (!this.runtime.organisationKey || !this.config.organisation) {
      throw new BadRequestException(
        'this receiver has no organisation key (ORGANISATION_ID, ORGANISATION_KEYSTORE)',
      );
    }
    const window = limitParam(hours, 24, 8760);
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
    const window = limitParam(hours, 24, 720);
    const interval = limitParam(intervalMinutes, 15, 1440);
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
    const window = limitParam(hours, 24, 720);
    // Sending order is the meter's nonce order: a reading sent after a later interval's is late.
    const { rows } = await this.db.query<{ read_at: Date; dimensions: Record<string, number | string> }>(
      `SELECT read_at, dimensions FROM receiver_readings
       WHERE receiver_id = $1 AND meter_id = $2 AND read_at >= now() - make_interval(hours => $3)
       ORDER BY nonce`,
      [this.config.receiverId, meterId, window],
    );
    return recoverSeries({
      meterId,
      intervalMs: limitParam(intervalMinutes, 15, 1440) * 60_000,
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
    const window = limitParam(hours, 24, 720);
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
    const window = limitParam(hours, 720, 8760);
    const intervalMs = limitParam(intervalMinutes, 15, 1440) * 60_000;
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

  private readonly locations = new Map<string, string>();

  /** Where a device is: its registered location (from the node), or "unknown". */
  private async locationOf(meterId: string): Promise<string> {
    let location = this.locations.get(meterId);
    if (location === undefined) {
      const response = await fetch(`${this.config.nodeUrl}/meters/${encodeURIComponent(meterId)}`).catch(
        () => undefined,
      );
      location = response?.ok
        ? (((await response.json()) as { location: string | null }).location ?? 'unknown')
        : 'unknown';
      this.locations.set(meterId, location);
    }
    return location;
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

const accountSchema = z
  .object({
    prepaid: z.boolean(),
    prepaid_balance: z.number().finite(),
    prepaid_low_level: z.number().finite(),
    arrears: z.number().finite().min(0),
    arrears_level: z.number().finite().min(0),
    serious_arrears_level: z.number().finite().min(0),
    threshold_value: z.number().finite().min(0),
    latest_price: z.number().finite().min(0),
  })
  .strict();

@ApiTags('grid operator')
@Controller()
export class OperatorController {
  constructor(
    @Inject(RECEIVER_DB) private readonly db: Pool,
    @Inject(RECEIVER_CONFIG) private readonly config: ReceiverConfig,
    @Inject(FeedbackContractRunner) private readonly contract: FeedbackContractRunner,
    @Inject(RECEIVER_RUNTIME) private readonly runtime: ReceiverRuntime,
  ) {}

  @Put('accounts/:meterId')
  @ApiOperation({
    summary:
      "The operator's data for one meter (balances, levels, threshold, price), used by Algorithm 1 from the next report on. Each change raises the version.",
  })
  async putAccount(@Param('meterId') meterId: string, @Body() body: unknown) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/.test(meterId)) {
      throw new BadRequestException('meterId is not a meter id');
    }
    const parsed = accountSchema.safeParse(body);
    if (!parsed.success) {
      throw new BadRequestException(
        parsed.error.issues.map((i) => `${i.path.join('.') || 'body'} ${i.message}`).join('; '),
      );
    }
    const a = parsed.data;
    const { rows } = await this.db.query<{ version: number }>(
      `INSERT INTO operator_accounts (meter_id, version, prepaid, prepaid_balance, prepaid_low_level, arrears, arrears_level,
                                      serious_arrears_level, threshold_value, latest_price, updated_at)
       VALUES ($1, 1, $2, $3, $4, $5, $6, $7, $8, $9, now())
       ON CONFLICT (meter_id) DO UPDATE SET version = operator_accounts.version + 1, prepaid = EXCLUDED.prepaid,
         prepaid_balance = EXCLUDED.prepaid_balance, prepaid_low_level = EXCLUDED.prepaid_low_level,
         arrears = EXCLUDED.arrears, arrears_level = EXCLUDED.arrears_level,
         serious_arrears_level = EXCLUDED.serious_arrears_level, threshold_value = EXCLUDED.threshold_value,
         latest_price = EXCLUDED.latest_price, updated_at = now()
       RETURNING version`,
      [
        meterId,
        a.prepaid,
        a.prepaid_balance,
        a.prepaid_low_level,
        a.arrears,
        a.arrears_level,
        a.serious_arrears_level,
        a.threshold_value,
        a.latest_price,
      ],
    );
    return { meterId, version: rows[0]!.version, ...a };
  }

  @Get('meters/:meterId/commands')
  @ApiOperation({
    summary:
      'The commands waiting for a meter (power-saving mode, forced trip, re-upload), oldest first. The meter signs "commands:<meterId>:<timestamp>" (BLS, tag CBSG-METER-COMMANDS-V1) with its registered key: headers X-CBSG-Timestamp and X-CBSG-Signature.',
  })
  async commands(
    @Param('meterId') meterId: string,
    @Headers('x-cbsg-timestamp') timestamp?: string,
    @Headers('x-cbsg-signature') signature?: string,
  ) {
    await this.authenticateMeter(meterId, `commands:${meterId}`, timestamp, signature);
    const { rows } = await this.db.query<{
      command_id: string;
      type: string;
      message: string;
      trigger: string;
      created_at: Date;
    }>(
      `SELECT command_id, type, message, trigger, created_at FROM meter_commands
       WHERE receiver_id = $1 AND meter_id = $2 AND acked_at IS NULL ORDER BY created_at, command_id LIMIT 100`,
      [this.config.receiverId, meterId],
    );
    return rows.map((r) => ({
      id: r.command_id,
      type: r.type,
      message: r.message,
      trigger: r.trigger,
      createdAt: r.created_at,
    }));
  }

  @Post('meters/:meterId/commands/:commandId/ack')
  @HttpCode(HttpStatus.OK)
  @ApiOperation({
    summary:
      'The meter says it carried out a command: signed like the fetch, over "ack:<meterId>:<commandId>:<timestamp>". A second acknowledgement changes nothing.',
  })
  async ack(
    @Param('meterId') meterId: string,
    @Param('commandId') commandId: string,
    @Headers('x-cbsg-timestamp') timestamp?: string,
    @Headers('x-cbsg-signature') signature?: string,
  ) {
    await this.authenticateMeter(meterId, `ack:${meterId}:${commandId}`, timestamp, signature);
    const { rows } = await this.db.query<{ acked_at: Date }>(
      `UPDATE meter_commands SET acked_at = COALESCE(acked_at, now())
       WHERE receiver_id = $1 AND meter_id = $2 AND command_id = $3 RETURNING acked_at`,
      [this.config.receiverId, meterId, commandId],
    );
    if (!rows[0]) {
      throw new NotFoundException(`no command ${commandId} for ${meterId}`);
    }
    return { id: commandId, ackedAt: rows[0].acked_at };
  }

  private readonly meterKeys = new Map<string, BlsPublicKey>();

  /** 401 unless the request is signed, recently, with the key the meter registered on the chain. */
  private async authenticateMeter(
    meterId: string,
    what: string,
    timestamp?: string,
    signature?: string,
  ): Promise<void> {
    if (!/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/.test(meterId)) {
      throw new BadRequestException('meterId is not a meter id');
    }
    if (!timestamp || !/^\d{1,15}$/.test(timestamp) || !signature || !/^[0-9a-f]{192}$/.test(signature)) {
      throw new UnauthorizedException('sign the request as the meter: X-CBSG-Timestamp and X-CBSG-Signature');
    }
    if (Math.abs(Date.now() - Number(timestamp)) > 300_000) {
      throw new UnauthorizedException("the request is more than 5 minutes off this receiver's clock");
    }
    let key = this.meterKeys.get(meterId);
    if (!key) {
      const response = await fetch(`${this.config.nodeUrl}/meters/${encodeURIComponent(meterId)}`);
      if (!response.ok) {
        throw new UnauthorizedException(`no meter ${meterId} is registered`);
      }
      // Checked (proof of possession) by every node when the meter registered.
      key = BlsPublicKey.fromTrustedBytes(
        fromHex(((await response.json()) as { publicKey: string }).publicKey, 'key', 48),
      );
      this.meterKeys.set(meterId, key);
    }
    const ok = blsVerify(
      key,
      { tag: METER_COMMANDS_TAG, chainId: this.runtime.chainId },
      Buffer.from(`${what}:${timestamp}`),
      fromHex(signature, 'signature', 96),
    );
    if (!ok) {
      throw new UnauthorizedException(`the request is not signed with ${meterId}'s registered key`);
    }
  }

  @Get('contract-results')
  @ApiQuery({ name: 'meter', required: false })
  @ApiQuery({ name: 'limit', required: false, description: '1 to 1000, default 100' })
  @ApiOperation({ summary: 'Results of the feedback contract, newest first, with their chain transaction.' })
  async results(@Query('meter') meter?: string, @Query('limit') limit?: string) {
    const { rows } = await this.db.query<{
      trigger: string;
      meter_id: string;
      contract_id: string;
      contract_version: number;
      input: unknown;
      result_hash: string;
      actions: unknown;
      tx_hash: Buffer | null;
      created_at: Date;
    }>(
      `SELECT trigger, meter_id, contract_id, contract_version, input, result_hash, actions, tx_hash, created_at
       FROM contract_results WHERE receiver_id = $1 AND ($2::text IS NULL OR meter_id = $2)
       ORDER BY created_at DESC, trigger LIMIT $3`,
      [this.config.receiverId, meter ?? null, limitParam(limit, 100, 1000)],
    );
    return rows.map((r) => ({
      trigger: r.trigger,
      meterId: r.meter_id,
      contract: { id: r.contract_id, version: r.contract_version },
      input: r.input,
      resultHash: r.result_hash,
      actions: r.actions,
      txHash: r.tx_hash ? toHex(r.tx_hash) : null,
      createdAt: r.created_at,
    }));
  }

  @Get('queues')
  @ApiOperation({
    summary: 'Jobs per queue: waiting, active, delayed, failed (the dead-letter set), completed.',
  })
  queues() {
    return this.contract.queueCounts();
  }
}

/** Starts following when the app is up, and stops (then frees the pool and the database) on shutdown. */
class FollowerLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(
    private readonly follower: ChainFollower,
    private readonly db: Pool,
    private readonly runtime: ReceiverRuntime,
    private readonly contract: FeedbackContractRunner | null,
  ) {}

  onApplicationBootstrap(): void {
    this.contract?.start();
    this.follower.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.follower.stop();
    await this.contract?.stop();
    await this.runtime.crypto.close();
    await this.db.end();
  }
}

/** A receiver's process (DESIGN.md section 5): follows one node's final chain and opens its own shares. */
@Module({})
export class ReceiverModule {
  static forRoot(config: ReceiverConfig, runtime: ReceiverRuntime): DynamicModule {
    return {
      module: ReceiverModule,
      imports: [
        LoggerModule.forRoot({
          pinoHttp: {
            level: config.logLevel,
            redact: ['req.headers.authorization', 'req.headers.cookie'],
            autoLogging: { ignore: (req) => req.url?.startsWith('/health') ?? false },
          },
        }),
        MetricsModule,
      ],
      controllers: config.contract ? [ReceiverController, OperatorController] : [ReceiverController],
      providers: [
        { provide: RECEIVER_CONFIG, useValue: config },
        { provide: RECEIVER_RUNTIME, useValue: runtime },
        {
          provide: RECEIVER_DB,
          useFactory: () => {
            const pool = new Pool({ connectionString: config.databaseUrl, max: 5 });
            pool.on('error', () => undefined); // a dropped idle client; the next query reconnects
            return pool;
          },
        },
        {
          provide: FeedbackContractRunner,
          inject: [RECEIVER_DB],
          useFactory: (db: Pool) =>
            config.contract
              ? new FeedbackContractRunner(db, {
                  receiverId: config.receiverId,
                  organisationId: config.contract.organisationId,
                  organisationKey: runtime.organisationKey!,
                  chainId: runtime.chainId,
                  nodeUrl: config.nodeUrl,
                  redisUrl: config.contract.redisUrl,
                  queuePrefix: config.contract.queuePrefix,
                  notifyAttempts: config.contract.notifyAttempts,
                })
              : null,
        },
        {
          provide: ChainFollower,
          inject: [RECEIVER_DB, Registry, FeedbackContractRunner],
          useFactory: (db: Pool, metrics: Registry, contract: FeedbackContractRunner | null) =>
            new ChainFollower(
              db,
              runtime.crypto,
              runtime.receiver,
              {
                receiverId: config.receiverId,
                nodeUrl: config.nodeUrl,
                fromHeight: config.fromHeight,
                genesisHash: runtime.genesisHash,
                batchBlocks: config.batchBlocks,
                pollMs: config.pollMs,
                ...(contract ? { afterBlock: contract.enqueue.bind(contract) } : {}),
              },
              metrics,
            ),
        },
        {
          provide: FollowerLifecycle,
          inject: [ChainFollower, RECEIVER_DB, FeedbackContractRunner],
          useFactory: (follower: ChainFollower, db: Pool, contract: FeedbackContractRunner | null) =>
            new FollowerLifecycle(follower, db, runtime, contract),
        },
      ],
    };
  }
}
