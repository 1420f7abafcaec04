import { Module } from '@nestjs/common';

import { ChainModule } from '@app/chain';
import { IntakeModule } from '@app/intake';

import { AlarmFeed } from './alarm-feed';
import { CONSOLE_BUILD_DIR, ConsoleAssetsController, consoleBuildDir } from './console-assets.controller';
import { ConsoleReads } from './console-reads';
import { ConsoleController } from './console.controller';
import { IntakeSampler } from './intake-sampler';
import { QueueInspector } from './queue-inspector';

/** The admin ops console: its static files at /console and the admin API it reads (/admin/*). */
@Module({
  imports: [ChainModule, IntakeModule],
  controllers: [ConsoleController, ConsoleAssetsController],
  providers: [
    AlarmFeed,
    ConsoleReads,
    IntakeSampler,
    QueueInspector,
    { provide: CONSOLE_BUILD_DIR, useFactory: consoleBuildDir },
  ],
})
export class ConsoleModule {}
