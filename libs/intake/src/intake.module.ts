import { Module } from '@nestjs/common';

import { RegistryModule } from '@app/registry';

import { ReportIntakeService } from './report-intake.service';
import { ReportVerifier } from './report-verifier';

@Module({
  imports: [RegistryModule],
  providers: [ReportVerifier, ReportIntakeService],
  exports: [ReportVerifier, ReportIntakeService],
})
export class IntakeModule {}
