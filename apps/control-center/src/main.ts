import { loadControlCenterConfig } from '@app/config';

import { createControlCenterApp } from './bootstrap';

async function main(): Promise<void> {
  const config = loadControlCenterConfig();
  const app = await createControlCenterApp(config);
  await app.listen(config.http.port, config.http.host);
}

main().catch((error: unknown) => {
  process.stderr.write(`cbsg control-center: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
