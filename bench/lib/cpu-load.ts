// How much CPU other processes took while a benchmark phase ran: on a shared machine, a figure
// measured while something else held a core is not the figure of the code. Linux only (/proc/stat);
// elsewhere the numbers are NaN and the benchmark simply cannot tell.
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/stat (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

export interface CpuSnapshot {
  readonly at: number;
  /** Busy seconds of the whole machine (all cores), or NaN. */
  readonly machineBusy: number;
  /** CPU seconds of this process, all its threads. */
  readonly own: number;
}

export function cpuSnapshot(): CpuSnapshot {
  let machineBusy = NaN;
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
    const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
    machineBusy =
      ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / USER_HZ;
  } catch {
    // not Linux
  }
  const u = process.cpuUsage();
  return { at: performance.now(), machineBusy, own: (u.user + u.system) / 1e6 };
}

/** Cores' worth of CPU that other processes used between two snapshots (0 = we had the machine). */
export function otherLoad(from: CpuSnapshot, to: CpuSnapshot): number {
  const seconds = (to.at - from.at) / 1000;
  const others = to.machineBusy - from.machineBusy - (to.own - from.own);
  return Math.max(0, others / seconds);
}
