import { existsSync } from 'node:fs';
import path from 'node:path';

/** The repository (or installed package) root: the nearest folder above this file with prisma/. */
export function repoRoot(from: string = __dirname): string {
  let dir = from;
  for (;;) {
    if (existsSync(path.join(dir, 'prisma', 'migrations')) && existsSync(path.join(dir, 'package.json'))) {
      return dir;
    }
    const parent = path.dirname(dir);
    if (parent === dir) {
      throw new Error(`no prisma/migrations folder above ${from}`);
    }
    dir = parent;
  }
}

export function migrationsDir(): string {
  return path.join(repoRoot(), 'prisma', 'migrations');
}
