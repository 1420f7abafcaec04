import { Module } from '@nestjs/common';

import { IntakeModule } from '@app/intake';
import { RegistryModule } from '@app/registry';

import { BlockValidator } from './block-validator';
import { ChainContext } from './chain-context.service';
import { ChainService } from './chain.service';
import { Finalizer } from './finalizer';
import { MempoolService } from './mempool.service';
import { PeerNetwork } from './p2p/peer-network';
import { ScheduleService } from './schedule.service';

/** The consortium chain on one node: DPoS production, validation, votes, finality, peers. */
@Module({
  imports: [RegistryModule, IntakeModule],
  providers: [
    ChainContext,
    ScheduleService,
    BlockValidator,
    MempoolService,
    Finalizer,
    PeerNetwork,
    ChainService,
  ],
  exports: [ChainContext, ScheduleService, ChainService, MempoolService, PeerNetwork],
})
export class ChainModule {}
