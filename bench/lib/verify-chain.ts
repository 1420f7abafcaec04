import { spawn } from 'node:child_process';

/**
 * `cbsg verify-chain` on a node's database, as an operator runs it (every hash, root, producer
 * signature, certificate and report, the reports in the worker pool): how many reports, how long.
 */
export async function runVerifyChain(
  databaseUrl: string,
  genesisFile: string,
): Promise<{ reports: number; seconds: number }> {
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        '-r',
        '@swc-node/register',
        'apps/cli/src/main.ts',
        'verify-chain',
        '--database-url',
        databaseUrl,
        '--genesis',
        genesisFile,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`verify-chain exited ${code}: ${out}`)),
    );
  });
  const m = /(\d+) reports in ([\d.]+) s/.exec(output);
  if (!m) {
    throw new Error(`unexpected verify-chain output: ${output}`);
  }
  return { reports: Number(m[1]), seconds: Number(m[2]) };
}
