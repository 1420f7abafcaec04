import { Module } from '@nestjs/common';
import type { Pool } from 'pg';

import { IntakeModule, ReportVerifier } from '@app/intake';
import { PG_POOL } from '@app/persistence';
import { RegistryModule } from '@app/registry';

import { BlockValidator } from './block-validator';
import { ChainContext } from './chain-context.service';
import { ChainQueries } from './chain-queries';
import { ChainVerifier } from './chain-verifier';
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
    ChainQueries,
    {
      provide: ChainVerifier,
      inject: [PG_POOL, ChainContext, ReportVerifier],
      useFactory: (pool: Pool, context: ChainContext, verifier: ReportVerifier) =>
        new ChainVerifier(pool, context, (items) => verifier.verifyReports(items, 'verify-chain')),
    },
  ],
  exports: [
    ChainContext,
    ScheduleService,
    ChainService,
    MempoolService,
    PeerNetwork,
    ChainQueries,
    {
      provide: ChainVerifier,
      inject: [PG_POOL, ChainContext, ReportVerifier],
      useFactory: (pool: Pool, context: ChainContext, verifier: ReportVerifier) =>
        new ChainVerifier(pool, context, (items) => verifier.verifyReports(items, 'verify-chain')),
    },
  ],
})
export class ChainModule {}
