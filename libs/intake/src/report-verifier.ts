import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';

import { APP_CONFIG, type AppConfig } from '@app/config';
import { type BatchVerdict, CryptoPool, type RegisteredMeter, type Report } from '@app/crypto';
import { GenesisService } from '@app/registry';

/**
 * The worker pool that checks report signatures (weighted batch verification in worker threads),
 * shared by intake and block validation so that both cores serve whichever needs them.
 */
@Injectable()
export class ReportVerifier implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(ReportVerifier.name);
  private pool: CryptoPool | undefined;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly genesis: GenesisService,
  ) {}

  async onModuleInit(): Promise<void> {
    const workers = this.config.intake.cryptoWorkers;
    this.pool = await CryptoPool.start(this.genesis.current().params, workers > 0 ? { size: workers } : {});
    this.logger.log(`${this.pool.size} verification worker(s)`);
  }

  async onModuleDestroy(): Promise<void> {
    await this.pool?.close();
  }

  verifyReports(
    items: ReadonlyArray<{ report: Report | Uint8Array; meter: RegisteredMeter }>,
  ): Promise<BatchVerdict> {
    if (!this.pool) {
      throw new Error('the verification pool is not started yet');
    }
    return this.pool.verifyReports(items);
  }
}
