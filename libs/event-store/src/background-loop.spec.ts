import { setTimeout as sleep } from 'node:timers/promises';

import { BackgroundLoop } from './background-loop';

/** A loop whose step records when it ran and reports more work for its first `busySteps` runs. */
function recordingLoop(options: { minWakeIntervalMs?: number; busySteps?: number } = {}) {
  const started: number[] = [];
  const loop = new BackgroundLoop(
    'test-loop',
    () => {
      started.push(Date.now());
      return Promise.resolve(started.length <= (options.busySteps ?? 0));
    },
    { pollMs: 60_000, minWakeIntervalMs: options.minWakeIntervalMs },
  );
  return { loop, started };
}

async function wakeRepeatedly(loop: BackgroundLoop, times: number, everyMs: number): Promise<void> {
  for (let i = 0; i < times; i += 1) {
    loop.wake();
    await sleep(everyMs);
  }
}

describe('BackgroundLoop', () => {
  const loops: BackgroundLoop[] = [];
  afterEach(async () => {
    await Promise.all(loops.splice(0).map((l) => l.stop()));
  });

  it('runs a step for each wake-up when it does not coalesce', async () => {
    const { loop, started } = recordingLoop();
    loops.push(loop);
    loop.start();
    await wakeRepeatedly(loop, 10, 20);
    await sleep(50);
    // A step that takes no time runs right after each wake-up.
    expect(started.length).toBeGreaterThanOrEqual(9);
  });

  it('coalesces a stream of wake-ups into one step per interval', async () => {
    const { loop, started } = recordingLoop({ minWakeIntervalMs: 1_000 });
    loops.push(loop);
    loop.start();
    await wakeRepeatedly(loop, 10, 10); // about 100 ms of wake-ups after the first step
    await sleep(1_300);
    // The first step at start, then one for all ten wake-ups, no sooner than the interval.
    expect(started).toHaveLength(2);
    expect(started[1]! - started[0]!).toBeGreaterThanOrEqual(995);
  });

  it('does not hold back a step that follows one reporting more work', async () => {
    const { loop, started } = recordingLoop({ minWakeIntervalMs: 5_000, busySteps: 4 });
    loops.push(loop);
    loop.start();
    await sleep(1_000);
    // Four busy steps and the idle one after them, back to back; then it waits.
    expect(started).toHaveLength(5);
    expect(started[4]! - started[0]!).toBeLessThan(1_000);
  });

  it('stops at once while waiting to coalesce', async () => {
    const { loop, started } = recordingLoop({ minWakeIntervalMs: 10_000 });
    loop.start();
    await sleep(20);
    loop.wake();
    await sleep(20);
    const stopping = Date.now();
    await loop.stop();
    expect(Date.now() - stopping).toBeLessThan(1_000);
    expect(started).toHaveLength(1);
  });
});
