export * from './intake.errors';
export * from './intake.module';
export * from './report-intake.service';
export * from './report-verifier';
