import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { CONSORTIUM_FILES } from '@app/control-center';
import { repoRoot } from '@app/persistence';

const run = promisify(execFile);
const MAIN = path.join(repoRoot(), 'apps/cli/src/main.ts');

/** `cbsg setup` in its own process; resolves with its exit code. */
async function setup(out: string): Promise<number> {
  try {
    await run(
      process.execPath,
      ['-r', '@swc-node/register', MAIN, 'setup', '--out', out, '--delegates', '1', '--nodes', '1'],
      {
        cwd: repoRoot(),
        timeout: 90_000,
        env: { ...process.env, CBSG_PASSPHRASE: 'correct horse battery staple' },
      },
    );
    return 0;
  } catch (error) {
    return (error as { code?: number }).code ?? -1;
  }
}

describe('cbsg setup over an earlier one', () => {
  let out: string;

  beforeAll(async () => {
    out = await mkdtemp(path.join(tmpdir(), 'cbsg-setup-e2e-'));
  });

  afterAll(async () => {
    await rm(out, { recursive: true, force: true });
  });

  it('given a directory whose genesis was moved away, when run again without --force, should refuse and keep the master key', async () => {
    expect(await setup(out)).toBe(0);
    const master = path.join(out, CONSORTIUM_FILES.masterKey);
    const sealed = await readFile(master, 'utf8');
    // The operator hands genesis.json to the members, then runs setup there once more by mistake.
    await unlink(path.join(out, CONSORTIUM_FILES.genesis));
    expect(await setup(out)).toBe(1);
    expect(await readFile(master, 'utf8')).toBe(sealed);
  });
});
