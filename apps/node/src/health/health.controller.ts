import { Controller, Get, Inject } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import type { Redis } from 'ioredis';
import type { Pool } from 'pg';

import { SkipThrottle } from '@nestjs/throttler';

import { Public } from '@app/auth';
import { OutboxRelay, ProjectionRunner } from '@app/event-store';
import { PG_POOL } from '@app/persistence';
import { REDIS } from '@app/queue';

@ApiTags('health')
@Public()
@SkipThrottle()
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly relay: OutboxRelay,
    private readonly projections: ProjectionRunner,
  ) {}

  @Get('live')
  @ApiOperation({ summary: 'Liveness: the process answers.' })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('ready')
  @HealthCheck()
  @ApiOperation({ summary: 'Readiness: Postgres and Redis answer; outbox and projections are not failing.' })
  ready() {
    return this.health.check([
      () =>
        this.indicators
          .check('postgres')
          .attempt(async () => {
            await this.pool.query('SELECT 1');
          })
          .withTimeout(2_000),
      () =>
        this.indicators
          .check('redis')
          .attempt(async () => {
            await this.redis.ping();
          })
          .withTimeout(2_000),
      () => {
        const outbox = this.relay.status();
        const session = this.indicators.check('outbox');
        return outbox.failures === 0
          ? session.up()
          : session.down({ failures: outbox.failures, lastError: outbox.lastError });
      },
      () => {
        const failing = this.projections.status().filter((p) => p.failures > 0);
        const session = this.indicators.check('projections');
        return failing.length === 0
          ? session.up()
          : session.down({ failing: failing.map((p) => ({ name: p.name, error: p.lastError })) });
      },
    ]);
  }
}
