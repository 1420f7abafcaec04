import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

import { repoRoot } from '@app/persistence';

/** Where `npm run console:build` writes the console, which the node serves at /console. */
export function consoleIndexFile(): string {
  return path.join(repoRoot(), 'dist', 'console', 'index.html');
}

/**
 * Builds the admin console unless a build is there already (the devnet and the console's browser
 * tests need it; a build takes a few seconds). `log` hears what happens.
 */
export function ensureConsoleBuilt(log: (line: string) => void = () => undefined): void {
  if (existsSync(consoleIndexFile())) {
    return;
  }
  log('building the admin console (npm run console:build)...');
  const result = spawnSync('npm', ['run', '--silent', 'console:build'], {
    cwd: repoRoot(),
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (result.status !== 0 || !existsSync(consoleIndexFile())) {
    throw new Error(
      `npm run console:build failed (${result.status ?? result.signal}): ${`${result.stdout}${result.stderr}`.trim().slice(-2_000)}`,
    );
  }
}
