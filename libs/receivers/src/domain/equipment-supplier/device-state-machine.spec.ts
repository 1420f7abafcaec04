import { DEVICE_STATES, DEVICE_TRANSITIONS, FleetSimulator, formatDeviceStatus } from '@app/meter-sdk';

import { DAY_MS } from '../meter-series';
import { MONDAY } from '../test-support/simulated-series';
import { bridgeStates, type StatusObservation, trackDeviceStates } from './device-state-machine';

const I = 900_000;
const at = (k: number) => MONDAY + k * I;
const obs = (k: number, status: string): StatusObservation => ({ at: at(k), status });

describe('the supplier reads Fig. 4', () => {
  it("given the paper's figure, when compared with the device SDK's table, should allow exactly the same transitions", () => {
    // Fig. 4 as the supplier reads it: an alarm clears or escalates; an emergency trips (outage) or is
    // repaired remotely; an outage is always repaired; a repair ends in normal.
    const figure4 = [
      'normal->alarm',
      'alarm->normal',
      'alarm->emergency',
      'emergency->outage',
      'emergency->repair',
      'outage->repair',
      'repair->normal',
    ];
    const sdk = DEVICE_STATES.flatMap((from) => DEVICE_TRANSITIONS[from].map((to) => `${from}->${to}`));
    expect(sdk.sort()).toEqual(figure4.sort());
  });

  it('given consecutive statuses along the figure, when tracked, should record each transition as reported', () => {
    const timeline = trackDeviceStates(
      'm-1',
      [
        obs(0, 'normal'),
        obs(1, 'alarm:E41'),
        obs(2, 'emergency:E41'),
        obs(3, 'repair:E41'),
        obs(4, 'normal'),
      ],
      I,
    );
    expect(timeline.transitions.map((t) => `${t.from}->${t.to}:${t.inferred}`)).toEqual([
      'normal->alarm:false',
      'alarm->emergency:false',
      'emergency->repair:false',
      'repair->normal:false',
    ]);
    expect(timeline.impossible).toEqual([]);
  });

  it('given a jump Fig. 4 forbids between consecutive intervals, when tracked, should report it and follow the device', () => {
    const timeline = trackDeviceStates(
      'm-1',
      [obs(0, 'normal'), obs(1, 'outage:E11'), obs(2, 'repair:E11')],
      I,
    );
    expect(timeline.impossible).toEqual([
      {
        at: at(1),
        previousAt: at(0),
        from: 'normal',
        to: 'outage',
        reason: 'Fig. 4 has no transition normal -> outage',
      },
    ]);
    expect(timeline.transitions.map((t) => `${t.from}->${t.to}`)).toEqual(['outage->repair']);
  });

  it('given a silence after an emergency that ends in repair, when tracked, should infer the outage and its time', () => {
    const timeline = trackDeviceStates(
      'm-1',
      [obs(0, 'alarm:E11'), obs(1, 'emergency:E11'), obs(6, 'repair:E11'), obs(7, 'normal')],
      I,
    );
    expect(timeline.segments).toContainEqual({
      state: 'outage',
      code: 'E11',
      from: at(2),
      to: at(6),
      inferred: true,
    });
    expect(
      timeline.transitions.filter((t) => t.inferred).map((t) => `${t.from}->${t.to}@${(t.at - MONDAY) / I}`),
    ).toEqual(['emergency->outage@2', 'outage->repair@6']);
    expect(timeline.unobserved).toEqual([]);
  });

  it('given a reported outage, a silence, then normal, when tracked, should infer the outage through the silence and the repair after it', () => {
    // outage -> normal needs repair in between: the silence is the outage, then the repair.
    const timeline = trackDeviceStates('m-1', [obs(0, 'outage:E11'), obs(4, 'normal')], I);
    expect(timeline.segments).toContainEqual({
      state: 'outage',
      code: 'E11',
      from: at(1),
      to: at(4),
      inferred: true,
    });
    expect(
      timeline.transitions.map((t) => `${t.from}->${t.to}:${t.inferred}@${(t.at - MONDAY) / I}`),
    ).toEqual(['outage->repair:true@4', 'repair->normal:true@4']);
    expect(timeline.unobserved).toEqual([]);
    expect(timeline.impossible).toEqual([]);
  });

  it('given a silence between normal and emergency long enough for an alarm, when tracked, should infer the alarm', () => {
    const timeline = trackDeviceStates('m-1', [obs(0, 'normal'), obs(3, 'emergency:E21')], I);
    expect(timeline.transitions.map((t) => `${t.from}->${t.to}:${t.inferred}`)).toEqual([
      'normal->alarm:true',
      'alarm->emergency:true',
    ]);
    expect(timeline.unobserved).toEqual([{ from: at(1), to: at(3) }]);
  });

  it('given a silence between two normal readings, when tracked, should call it a data gap, not a fault', () => {
    const timeline = trackDeviceStates('m-1', [obs(0, 'normal'), obs(9, 'normal')], I);
    expect(timeline.transitions).toEqual([]);
    expect(timeline.unobserved).toEqual([{ from: at(1), to: at(9) }]);
  });

  it('given a silence too short for the states a change needs, when tracked, should report it impossible', () => {
    // normal -> outage needs alarm and emergency in between: two silent intervals, one given.
    expect(bridgeStates('normal', 'outage', 1)).toBeUndefined();
    expect(bridgeStates('normal', 'outage', 2)).toEqual({ path: ['alarm', 'emergency'], silentState: null });
    const timeline = trackDeviceStates('m-1', [obs(0, 'normal'), obs(2, 'outage:E31')], I);
    expect(timeline.impossible[0]?.reason).toBe('normal cannot reach outage in 1 unreported intervals');
  });

  it('given statuses out of order, repeated or malformed, when tracked, should sort, drop and list them', () => {
    const timeline = trackDeviceStates(
      'm-1',
      [obs(2, 'normal'), obs(0, 'normal'), obs(1, 'alarm:W01'), obs(1, 'alarm:W01'), obs(3, 'broken')],
      I,
    );
    expect(timeline.duplicates).toBe(1);
    expect(timeline.malformed).toEqual([expect.objectContaining({ at: at(3), status: 'broken' })]);
    expect(timeline.transitions.map((t) => `${t.from}->${t.to}`)).toEqual(['normal->alarm', 'alarm->normal']);
  });
});

describe('device states of the simulated fleet', () => {
  const sim = new FleetSimulator({ seed: 2026, meters: 60, thieves: 3, tampered: 2, faulty: 6 });
  const slots = (14 * DAY_MS) / sim.intervalMs;

  it('given two weeks of the statuses each meter reported, when tracked, should reproduce the true state of every interval', () => {
    for (const meter of sim.meters.filter((m) => m.behaviour === 'faulty' || m.meterId < 'meter-00010')) {
      const truth = Array.from({ length: slots }, (_, k) =>
        sim.truth(meter.meterId, MONDAY + k * sim.intervalMs),
      );
      const reported = truth
        .filter((t) => t.reporting)
        .map((t) => ({ at: t.from, status: formatDeviceStatus(t.status) }));
      const timeline = trackDeviceStates(meter.meterId, reported, sim.intervalMs);
      expect(timeline.impossible).toEqual([]);
      const first = reported[0]?.at ?? 0;
      const last = reported.at(-1)?.at ?? 0;
      for (const t of truth.filter((x) => x.from >= first && x.from <= last)) {
        const segment = timeline.segments.find((s) => s.from <= t.from && t.from < s.to);
        expect([t.from, segment?.state]).toEqual([t.from, t.status.state]);
        expect(segment?.inferred).toBe(!t.reporting);
      }
    }
  });
});
