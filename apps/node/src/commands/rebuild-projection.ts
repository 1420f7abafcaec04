// npm run projections:rebuild -- <name>|--all
// Empties a projection's tables and replays the journal into them, then exits. Safe while nodes run:
// the rebuild holds the projection's checkpoint lock, so their loops wait for it.
import { NestFactory } from '@nestjs/core';

import { ProjectionRunner } from '@app/event-store';

import { NodeModule } from '../node.module';

async function main(): Promise<void> {
  const target = process.argv[2];
  if (!target) {
    throw new Error('which projection? npm run projections:rebuild -- <name>|--all');
  }
  const app = await NestFactory.createApplicationContext(NodeModule.forRoot({ background: false }), {
    logger: false,
    abortOnError: false,
  });
  try {
    const runner = app.get(ProjectionRunner);
    const names = target === '--all' ? runner.names() : [target];
    for (const name of names) {
      const started = Date.now();
      const position = await runner.rebuild(name);
      process.stdout.write(`rebuilt ${name} up to position ${position} in ${Date.now() - started} ms\n`);
    }
  } finally {
    await app.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`projections:rebuild: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
