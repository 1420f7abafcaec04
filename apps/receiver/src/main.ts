import { loadReceiverConfig } from '@app/config';

import { createReceiverApp } from './bootstrap';

async function main(): Promise<void> {
  const config = loadReceiverConfig();
  const app = await createReceiverApp(config);
  await app.listen(config.http.port, config.http.host);
}

main().catch((error: unknown) => {
  process.stderr.write(`cbsg receiver: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
