import {
  BadRequestException,
  Controller,
  type DynamicModule,
  Get,
  Inject,
  Module,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  Query,
} from '@nestjs/common';
import { ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { LoggerModule } from 'nestjs-pino';
import { Pool } from 'pg';
import { Registry } from 'prom-client';

import type { ReceiverConfig } from '@app/config';
import { CryptoPool, type PoolReceiver, toHex } from '@app/crypto';
import { MetricsModule } from '@app/metrics';

import { ChainFollower } from './chain-follower';

export const RECEIVER_CONFIG = Symbol('RECEIVER_CONFIG');
export const RECEIVER_DB = Symbol('RECEIVER_DB');

/** What the bootstrap has opened before the module starts: the key in the worker pool, the chain's start. */
export interface ReceiverRuntime {
  crypto: CryptoPool;
  receiver: PoolReceiver;
  genesisHash: Uint8Array;
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

/** Starts following when the app is up, and stops (then frees the pool and the database) on shutdown. */
class FollowerLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(
    private readonly follower: ChainFollower,
    private readonly db: Pool,
    private readonly runtime: ReceiverRuntime,
  ) {}

  onApplicationBootstrap(): void {
    this.follower.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.follower.stop();
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
      controllers: [ReceiverController],
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
          provide: ChainFollower,
          inject: [RECEIVER_DB, Registry],
          useFactory: (db: Pool, metrics: Registry) =>
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
              },
              metrics,
            ),
        },
        {
          provide: FollowerLifecycle,
          inject: [ChainFollower, RECEIVER_DB],
          useFactory: (follower: ChainFollower, db: Pool) => new FollowerLifecycle(follower, db, runtime),
        },
      ],
    };
  }
}
