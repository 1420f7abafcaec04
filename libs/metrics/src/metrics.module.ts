import { Controller, Get, Global, Header, Module } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { SkipThrottle } from '@nestjs/throttler';
import { collectDefaultMetrics, Registry } from 'prom-client';

import { Public } from '@app/auth';

/**
 * One Prometheus registry per application (not prom-client's global one, so that several apps in a
 * test process do not collide). Inject `Registry` to add metrics; GET /metrics serves them.
 */
@ApiExcludeController()
// Scraped by Prometheus: counts and timings, nothing secret.
@Public()
@SkipThrottle()
@Controller('metrics')
export class MetricsController {
  constructor(private readonly registry: Registry) {}

  @Get()
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  metrics(): Promise<string> {
    return this.registry.metrics();
  }
}

@Global()
@Module({
  providers: [
    {
      provide: Registry,
      useFactory: () => {
        const registry = new Registry();
        collectDefaultMetrics({ register: registry, prefix: 'cbsg_' });
        return registry;
      },
    },
  ],
  controllers: [MetricsController],
  exports: [Registry],
})
export class MetricsModule {}
