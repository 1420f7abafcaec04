import { schedulerKey, staleSchedulerKeys } from './scheduled-publications';

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
