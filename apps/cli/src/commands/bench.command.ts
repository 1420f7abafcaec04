import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import path from 'node:path';

import type { Command } from 'commander';

import { repoRoot } from '@app/persistence';

import { CliError } from '../cli-error';

const SUFFIX = '.bench.ts';

interface Benchmark {
  name: string;
  /** Its arguments, from the usage line that opens each script ("// npm run bench:<name> [-- ...]"). */
  usage: string;
}

/** The benchmarks in bench/ (bench/<name>.bench.ts), found on disk so a new one needs no change here. */
function benchmarks(): Benchmark[] {
  let dir: string;
  let files: string[];
  try {
    dir = path.join(repoRoot(__dirname), 'bench');
    files = readdirSync(dir);
  } catch {
    // An installed copy without the sources has no benchmarks to run.
    return [];
  }
  return files
    .filter((file) => file.endsWith(SUFFIX))
    .sort()
    .map((file) => ({ name: file.slice(0, -SUFFIX.length), usage: usageOf(path.join(dir, file)) }));
}

function usageOf(file: string): string {
  const lines = readFileSync(file, 'utf8').split('\n');
  const first = /^\/\/ npm run bench:\S+\s*(.*)$/.exec(lines[0] ?? '');
  if (!first) {
    return '';
  }
  const parts = [first[1]!];
  // The usage may go on over the next comment lines, indented, each starting with "[".
  for (const line of lines.slice(1)) {
    const more = /^\/\/\s+(\[.*)$/.exec(line);
    if (!more) {
      break;
    }
    parts.push(more[1]!);
  }
  return parts.join(' ').replaceAll('[-- ', '[').trim();
}

/** bench: runs one of the project's benchmark scripts, as `npm run bench:<name>` does. */
export function registerBench(program: Command): void {
  const found = benchmarks();
  const names = found.map((b) => b.name);
  program
    .command('bench')
    .description(
      'Run one of the benchmarks (bench/<name>.bench.ts); it prints a table and, last, one JSON line. Arguments after -- go to the benchmark (most take --duration SECONDS).',
    )
    .argument('<name>', `the benchmark: ${names.join(', ') || '(none found)'}`)
    .argument('[args...]', 'passed to the benchmark, after --')
    .option('--dry-run', 'print the command that would run, and stop')
    .addHelpText(
      'after',
      `\nBenchmarks (bench/<name>.bench.ts) and their arguments:\n${found.map((b) => `  ${b.name.padEnd(12)} ${b.usage}`).join('\n')}\n\nExample:\n  cbsg bench crypto -- --duration 5\n`,
    )
    .action(async (name: string, args: string[], options: { dryRun?: boolean }) => {
      if (!names.includes(name)) {
        throw new CliError(`no benchmark "${name}"; the benchmarks are: ${names.join(', ')}`);
      }
      const root = repoRoot(__dirname);
      const command = [
        process.execPath,
        '-r',
        '@swc-node/register',
        path.join('bench', `${name}${SUFFIX}`),
        ...args,
      ];
      if (options.dryRun) {
        process.stdout.write(`(cd ${root} && ${command.join(' ')})\n`);
        return;
      }
      process.exitCode = await run(command, root);
    });
}

/** Runs the benchmark in the foreground; Ctrl-C reaches it directly (same process group), so this process only waits. */
function run(command: string[], cwd: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(command[0]!, command.slice(1), { cwd, stdio: 'inherit' });
    const ignoreInterrupt = () => undefined;
    process.on('SIGINT', ignoreInterrupt);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      process.off('SIGINT', ignoreInterrupt);
      // A benchmark killed by a signal exits as a shell would report it (128 + the signal's number).
      resolve(code ?? 128 + (signal ? constants.signals[signal] : 0));
    });
  });
}
