// Shared by every `npm run bench:*` script: flags, a readable table, and the JSON summary that must be
// the very last line of output (so that runs can be compared by machine).
import os from 'node:os';

export interface BenchFlags {
  /** Seconds each timed phase runs (`--duration SECONDS`). */
  durationSeconds: number;
  /** Other `--name value` flags, as given. */
  extra: Record<string, string>;
}

export function parseFlags(argv: string[] = process.argv.slice(2), defaultDuration = 10): BenchFlags {
  const extra: Record<string, string> = {};
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) {
      throw new Error(`unexpected argument "${arg}"`);
    }
    const [name, inline] = arg.slice(2).split('=', 2) as [string, string | undefined];
    const value = inline ?? argv[i + 1];
    if (inline === undefined) {
      i += 1;
    }
    if (value === undefined) {
      throw new Error(`--${name} needs a value`);
    }
    extra[name] = value;
  }
  const durationSeconds = extra.duration === undefined ? defaultDuration : Number(extra.duration);
  if (!Number.isFinite(durationSeconds) || durationSeconds <= 0) {
    throw new Error('--duration must be a positive number of seconds');
  }
  delete extra.duration;
  return { durationSeconds, extra };
}

export function machineLine(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown cpu';
  return `${os.cpus().length} cores (${cpu}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}`;
}

export type Row = Record<string, string | number>;

/** Prints rows as an aligned text table. */
export function printTable(title: string, rows: Row[]): void {
  console.log(`\n${title}`);
  if (rows.length === 0) {
    console.log('  (no rows)');
    return;
  }
  const columns = Object.keys(rows[0]!);
  const cell = (v: string | number | undefined) =>
    typeof v === 'number'
      ? Number.isNaN(v)
        ? '-'
        : Number.isInteger(v)
          ? v.toLocaleString('en-US')
          : v.toFixed(2)
      : (v ?? '');
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]) =>
    '  ' + values.map((v, i) => (i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  ');
  console.log(line(columns));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const row of rows) {
    console.log(line(columns.map((c) => cell(row[c]))));
  }
}

export function median(values: number[]): number {
  if (values.length === 0) {
    return NaN;
  }
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) {
    return NaN;
  }
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** The summary line: must be printed last. */
export function printSummary(figures: Record<string, number>): void {
  const rounded = Object.fromEntries(
    Object.entries(figures).map(([k, v]) => [k, Number.isInteger(v) ? v : Math.round(v * 1000) / 1000]),
  );
  console.log(JSON.stringify(rounded));
}
