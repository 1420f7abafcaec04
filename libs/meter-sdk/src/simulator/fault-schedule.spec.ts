import { isAllowedTransition, TRANSIENT_ALARM_CODE } from './device-status';
import { FaultSchedule } from './fault-schedule';
import { hashString } from './prng';
import { DAY_MS, HOUR_MS, MINUTE_MS } from './time';

const QUARTER_HOUR = 15 * MINUTE_MS;
const keys = Array.from({ length: 40 }, (_, i) => hashString(`meter-${i}`));

describe('FaultSchedule', () => {
  it('given many faulty meters over four months, when read slot by slot, should make only the transitions of Fig. 4', () => {
    const schedule = new FaultSchedule(99, QUARTER_HOUR);
    const start = Math.floor(Date.UTC(2026, 0, 1) / QUARTER_HOUR);
    const end = start + 120 * schedule.slotsPerDay;
    const problems: string[] = [];
    let transients = 0;
    for (const key of keys) {
      let previous = schedule.statusAt(key, start - 1, 'overheating').status;
      for (let slot = start; slot < end; slot++) {
        const { status } = schedule.statusAt(key, slot, 'overheating');
        if (!isAllowedTransition(previous.state, status.state)) {
          problems.push(`${key} slot ${slot}: ${previous.state} -> ${status.state}`);
        }
        if (status.code === TRANSIENT_ALARM_CODE && previous.code !== TRANSIENT_ALARM_CODE) {
          transients++;
        }
        previous = status;
      }
      // A transient alarm keeps a normal slot between itself and any episode, on both sides.
      for (let day = start / schedule.slotsPerDay; day < end / schedule.slotsPerDay; day++) {
        const alarm = schedule.transientAlarm(key, day, 'overheating');
        const window = Math.floor((day * schedule.slotsPerDay) / schedule.slotsPerWindow);
        const episode = schedule.episodeInWindow(key, window, 'overheating');
        if (alarm && episode && alarm[0] <= episode.endSlot && episode.startSlot <= alarm[1]) {
          problems.push(`${key} day ${day}: transient alarm [${alarm[0]}, ${alarm[1]}) touches an episode`);
        }
      }
    }
    expect(problems).toEqual([]);
    // 10 % of 4,800 meter-days, minus the few that would touch an episode.
    expect(transients).toBeGreaterThan(300);
    expect(transients).toBeLessThan(600);
  });

  it('given faulty meters, when their episodes are listed, should keep clear of the window edges and follow the phase order', () => {
    const schedule = new FaultSchedule(5, QUARTER_HOUR);
    let episodes = 0;
    let windows = 0;
    for (const key of keys) {
      for (let window = 5_000; window < 5_030; window++) {
        windows++;
        const episode = schedule.episodeInWindow(key, window, 'phase_loss');
        if (!episode) {
          continue;
        }
        episodes++;
        expect(episode.startSlot).toBeGreaterThan(window * schedule.slotsPerWindow);
        // endSlot is exclusive: the last slot of the window stays normal.
        expect(episode.endSlot).toBeLessThanOrEqual((window + 1) * schedule.slotsPerWindow - 1);
        const states = episode.phases.map((p) => p.state);
        expect(states).toEqual(
          episode.type === 'firmware'
            ? ['alarm', 'emergency', 'repair']
            : ['alarm', 'emergency', 'outage', 'repair'],
        );
        // Contiguous, each at least one slot, within the documented durations.
        episode.phases.forEach((phase, i) => {
          expect(phase.toSlot).toBeGreaterThan(phase.fromSlot);
          expect(phase.fromSlot).toBe(i === 0 ? episode.startSlot : episode.phases[i - 1]?.toSlot);
        });
        const outage = episode.phases.find((p) => p.state === 'outage');
        if (outage) {
          const hours = ((outage.toSlot - outage.fromSlot) * QUARTER_HOUR) / HOUR_MS;
          expect(hours).toBeGreaterThanOrEqual(2);
          expect(hours).toBeLessThanOrEqual(18);
        }
        expect(schedule.episodes(key, episode.startSlot - 10, episode.startSlot + 1, 'phase_loss')).toEqual([
          episode,
        ]);
      }
    }
    expect(episodes / windows).toBeGreaterThan(0.65);
    expect(episodes / windows).toBeLessThan(0.85);
  });

  it('given a healthy meter, when its episodes are asked, should have none and only short alarms', () => {
    const schedule = new FaultSchedule(5, QUARTER_HOUR);
    expect(schedule.episodes(keys[0]!, 0, 10 * schedule.slotsPerWindow, undefined)).toEqual([]);
    expect(schedule.episodeInWindow(keys[0]!, 3, undefined)).toBeUndefined();
    const states = new Set<string>();
    for (let slot = 0; slot < 60 * schedule.slotsPerDay; slot++) {
      states.add(schedule.statusAt(keys[1]!, slot, undefined).status.state);
    }
    expect([...states].every((s) => s === 'normal' || s === 'alarm')).toBe(true);
  });

  it('given an hourly interval, when episodes are placed, should still give every phase a whole slot', () => {
    const schedule = new FaultSchedule(5, HOUR_MS);
    expect(schedule.slotsPerDay).toBe(24);
    for (const key of keys) {
      const episode =
        schedule.episodeInWindow(key, 100, 'firmware') ?? schedule.episodeInWindow(key, 101, 'firmware');
      for (const phase of episode?.phases ?? []) {
        expect(phase.toSlot - phase.fromSlot).toBeGreaterThanOrEqual(1);
      }
    }
  });

  it('given an interval that does not divide a day, when a schedule is made, should refuse', () => {
    expect(() => new FaultSchedule(1, 7 * MINUTE_MS)).toThrow(RangeError);
    expect(() => new FaultSchedule(1, DAY_MS)).toThrow(RangeError);
  });
});
