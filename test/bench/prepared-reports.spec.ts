import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { PreparedReports } from '../../bench/lib/prepared-reports';

describe("the soak's prepared reports", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'cbsg-prepared-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const idOf = (k: number) => k.toString(16).padStart(64, '0');
  const jsonOf = (k: number) => JSON.stringify({ k, text: 'é'.repeat(k % 7), pad: 'x'.repeat(100 + k) });

  it('given reports of different sizes, should give each batch back in order, byte for byte, with its id and meter', () => {
    const file = path.join(dir, 'reports');
    const prepared = new PreparedReports(file, 23, 5);
    for (let k = 0; k < 23; k += 1) {
      prepared.add(idOf(k), k % 4, jsonOf(k));
    }
    expect(prepared.size).toBe(23);
    expect(prepared.batchCount).toBe(5);
    const all = Array.from({ length: prepared.batchCount }, (_, b) => prepared.batch(b));
    expect(all.map((b) => b.length)).toEqual([5, 5, 5, 5, 3]);
    all.flat().forEach((report, k) => {
      expect(report).toEqual({ id: idOf(k), meter: k % 4, json: Buffer.from(jsonOf(k)) });
    });
    // Held in the file, not in memory.
    expect(statSync(file).size).toBe(all.flat().reduce((n, r) => n + r.json.length, 0));
    expect(prepared.meterByReport().get(idOf(13))).toBe(1);

    prepared.remove();
    expect(existsSync(file)).toBe(false);
  });

  it('given a batch past the last, more reports than its capacity, or an id that is not 32 bytes of hex, should refuse', () => {
    const prepared = new PreparedReports(path.join(dir, 'reports'), 2, 5);
    expect(() => prepared.add('abc', 0, '{}')).toThrow('64 hex digits');
    prepared.add(idOf(1), 0, '{}');
    prepared.add(idOf(2), 0, '{}');
    expect(() => prepared.add(idOf(3), 0, '{}')).toThrow('capacity');
    expect(prepared.batch(0)).toHaveLength(2);
    expect(() => prepared.batch(1)).toThrow(RangeError);
    prepared.remove();
  });
});
