// Integration tests provoke failures on purpose (crashing projections, Redis going away), which our
// background loops log as errors. Keep the jest output readable; TEST_LOGS=1 shows everything.
import { Logger } from '@nestjs/common';

if (!process.env.TEST_LOGS) {
  Logger.overrideLogger(['fatal']);
}
