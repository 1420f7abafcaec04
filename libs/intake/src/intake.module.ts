import { Module } from '@nestjs/common';

import { RegistryModule } from '@app/registry';

import { ReportIntakeService } from './report-intake.service';

@Module({
  imports: [RegistryModule],
  providers: [ReportIntakeService],
  exports: [ReportIntakeService],
})
export class IntakeModule {}
