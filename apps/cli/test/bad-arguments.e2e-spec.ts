import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import { initCrypto, readKeystoreFile } from '@app/crypto';
import { repoRoot } from '@app/persistence';

const run = promisify(execFile);
const MAIN = path.join(repoRoot(), 'apps/cli/src/main.ts');
const PASSPHRASE = 'keys generate passphrase';

async function cbsg(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['-r', '@swc-node/register', MAIN, ...args], {
      cwd: repoRoot(),
      timeout: 90_000,
      env: { ...process.env, CBSG_PASSPHRASE: PASSPHRASE },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('cbsg, given arguments it cannot use', () => {
  let work: string;
  const file = (name: string) => path.join(work, name);

  beforeAll(async () => {
    await initCrypto();
    work = await mkdtemp(path.join(tmpdir(), 'cbsg-keys-e2e-'));
  });

  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('given an --identity-out that names an existing file, should refuse before writing anything and keep that file', async () => {
    const first = file('meter-1.keystore.json');
    expect(await cbsg(['keys', 'generate', 'meter', 'meter-1', '--out', first])).toMatchObject({ code: 0 });

    // A slip of the keyboard: the new identity would land on meter-1's keystore, its only copy.
    const slip = await cbsg([
      'keys',
      'generate',
      'meter',
      'meter-2',
      '--out',
      file('meter-2.keystore.json'),
      '--identity-out',
      first,
    ]);
    expect(slip.code).toBe(1);
    expect(slip.stderr).toContain(`${first} exists already`);
    expect(await readKeystoreFile(first, PASSPHRASE)).toMatchObject({ kind: 'meter', id: 'meter-1' });
    expect(existsSync(file('meter-2.keystore.json'))).toBe(false);

    // The same file for both: the identity would replace the keystore it was just made from.
    const same = file('meter-3.json');
    const twice = await cbsg(['keys', 'generate', 'meter', 'meter-3', '--out', same, '--identity-out', same]);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toContain('--identity-out must not be the keystore file');
    expect(existsSync(same)).toBe(false);
  });

  it('given verify-chain --workers that is not a whole number of at least 1, should name the option and stop', async () => {
    for (const workers of ['abc', '0', '-1', '2.5']) {
      const outcome = await cbsg([
        'verify-chain',
        '--database-url',
        'postgresql://127.0.0.1:5432/none',
        '--genesis',
        file('no-genesis.json'),
        '--workers',
        workers,
      ]);
      expect(outcome.code).toBe(1);
      expect(outcome.stderr).toContain(`option '--workers <n>' argument '${workers}' is invalid`);
    }
  });
});
