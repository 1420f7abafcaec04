import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export type OracleRequest =
  | { op: 'xmd'; msg: string; dst: string; len: number }
  | { op: 'hashToFr'; msg: string; dst: string }
  | { op: 'hashToG1' | 'hashToG2'; msg: string; dst: string }
  | { op: 'g1Mul' | 'g2Mul'; scalar: string }
  | { op: 'pairing'; g1: string; g2: string }
  | { op: 'blsSign'; sk: string; msg: string; dst: string }
  | { op: 'blsVerify'; pk: string; msg: string; sig: string; dst: string }
  | { op: 'blsFastAggregateVerify'; pks: string[]; msg: string; sig: string; dst: string }
  | { op: 'blsAggregate'; sigs: string[] };

/** Ask @noble/curves (in a child Node process) for reference answers; one process per call. */
export function askNoble(requests: readonly OracleRequest[]): unknown[] {
  const out = execFileSync(process.execPath, [join(__dirname, 'noble', 'oracle.mjs')], {
    input: JSON.stringify(requests),
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(out) as unknown[];
}
