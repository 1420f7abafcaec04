import { Module } from '@nestjs/common';

import { GenesisService } from './genesis.service';
import { ForgetChangedMeter, ForgetChangedReceiver, RegistryCache } from './registry-cache';

/** Organisations, meters, receivers and delegates, and the transactions that change them. */
@Module({
  providers: [GenesisService, RegistryCache, ForgetChangedMeter, ForgetChangedReceiver],
  exports: [GenesisService, RegistryCache],
})
export class RegistryModule {}
