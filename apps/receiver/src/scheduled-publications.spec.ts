import { scheduledRunTime, schedulerKey, staleSchedulerKeys } from './scheduled-publications';

describe('staleSchedulerKeys', () => {
  it("given receivers whose ids hold ':', when one drops a subject, should name its own schedule only", () => {
    // Receiver ids may hold ':' (RECEIVER_ID); subjects never do.
    const keys = [
      schedulerKey('east', 'theft-suspects'),
      schedulerKey('east', 'device-report'),
      schedulerKey('east:b', 'theft-suspects'),
      schedulerKey('east:device-report', 'theft-suspects'),
      schedulerKey('west', 'device-report'),
    ];

    expect(staleSchedulerKeys(keys, 'east', ['theft-suspects'])).toEqual(['east:device-report']);
    expect(staleSchedulerKeys(keys, 'east:b', [])).toEqual(['east:b:theft-suspects']);
    expect(staleSchedulerKeys(keys, 'east:device-report', ['theft-suspects'])).toEqual([]);
  });

  it('given a key that names no subject, should leave it alone', () => {
    expect(staleSchedulerKeys(['', 'no-subject'], 'east', [])).toEqual([]);
  });
});

describe('scheduledRunTime', () => {
  it("given a scheduler's run, should be the run's due time from its job id, whatever the attempt", () => {
    const id = `repeat:${schedulerKey('east:b', 'theft-suspects')}:1796007212128`;
    expect(scheduledRunTime({ id, timestamp: 1796007211137 })).toBe(1796007212128);
  });

  it('given a job no schedule made, should fall back on the time it was queued', () => {
    expect(scheduledRunTime({ id: 'manual', timestamp: 1796007211137 })).toBe(1796007211137);
    expect(scheduledRunTime({ id: undefined, timestamp: 1796007211137 })).toBe(1796007211137);
  });
});
