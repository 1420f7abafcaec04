import { FleetSimulator } from '@app/meter-sdk';

import { DAY_MS, type IntervalReading, type MeterSeries } from '../meter-series';
import { CC_DIMENSIONS, MONDAY, simulatedShare } from '../test-support/simulated-series';
import { recoverSeries, type RecoveryReport } from './data-recovery';

const sim = new FleetSimulator({ seed: 2026, meters: 60, thieves: 3, tampered: 2, faulty: 6 });
const FORTNIGHT = (14 * DAY_MS) / sim.intervalMs;

/** A deterministic scramble: the order a buffering gateway might deliver after an outage. */
function scramble<T>(items: readonly T[]): T[] {
  return items
    .map((item, k) => ({ item, key: (k * 7919) % items.length }))
    .sort((x, y) => x.key - y.key)
    .map((x) => x.item);
}

describe('data recovery scored against the simulator after real outages', () => {
  // The faulty meters of the fleet, two weeks each: every outage interval is absent, as a dead meter sends nothing.
  const outaged = sim.meters
    .filter((m) => m.behaviour === 'faulty')
    .map((m) => simulatedShare(sim, m.meterId, MONDAY, FORTNIGHT))
    .filter((share) => share.truth.some((t) => !t.reporting));

  const score = (report: RecoveryReport, truth: ReturnType<typeof simulatedShare>['truth']) => {
    const byAt = new Map(truth.map((t) => [t.from, t]));
    let drawn = 0;
    let estimated = 0;
    for (const point of report.points) {
      if (point.origin === 'recovered') {
        drawn += byAt.get(point.at)?.drawnKwh ?? Number.NaN;
        estimated += point.values.consumption_kwh ?? Number.NaN;
      }
    }
    return { drawn, estimated, error: Math.abs(estimated - drawn) / drawn };
  };

  it('given two weeks with outages, scrambled, when recovered, should fill every outage interval and mark each one', () => {
    expect(outaged.length).toBeGreaterThanOrEqual(4);
    for (const { series, truth } of outaged) {
      const report = recoverSeries({ ...series, readings: scramble(series.readings) });
      const silent = truth.filter(
        (t) => !t.reporting && t.from >= series.readings[0]!.at && t.from <= series.readings.at(-1)!.at,
      );
      expect(report.outOfOrderArrivals).toBeGreaterThan(0);
      expect(report.missingIntervals).toEqual(silent.map((t) => t.from));
      expect(report.recoveredIntervals).toBe(silent.length);
      expect(report.unrecovered).toEqual([]);
      // Sorted, one point per interval, the measured ones untouched.
      expect(report.points.map((p) => p.at)).toEqual(
        [...report.points.map((p) => p.at)].sort((x, y) => x - y),
      );
      const measured = new Map(series.readings.map((r) => [r.at, r.values]));
      for (const point of report.points) {
        if (point.origin === 'measured') {
          expect(point.values).toEqual(measured.get(point.at));
        } else {
          expect(point.methods.consumption_kwh).toBe('daily-profile');
          expect(point.methods.voltage_a).toBe('linear');
          expect(Object.keys(point.values).sort()).toEqual([...CC_DIMENSIONS].sort());
        }
      }
    }
  });

  it('given the outages, when recovered, should estimate the energy drawn through each meter outage within 15 % of the truth', () => {
    for (const { series, truth } of outaged) {
      const { error } = score(recoverSeries(series), truth);
      expect(error).toBeLessThan(0.15);
    }
  });

  it('given the outages, when the daily profile is compared with plain linear interpolation, should be the closer of the two', () => {
    let profileError = 0;
    let linearError = 0;
    for (const { series, truth } of outaged) {
      const profile = score(recoverSeries(series), truth);
      const linear = score(recoverSeries(series, { linearUpToIntervals: FORTNIGHT }), truth);
      profileError += Math.abs(profile.estimated - profile.drawn);
      linearError += Math.abs(linear.estimated - linear.drawn);
    }
    expect(profileError).toBeLessThan(linearError / 2);
  });

  it('given a control center that also sees the device status, when recovered, should never invent a status', () => {
    const meterId = outaged[0]!.series.meterId;
    const { series } = simulatedShare(sim, meterId, MONDAY, FORTNIGHT, {
      dimensions: [...CC_DIMENSIONS, 'device_status'],
    });
    const report = recoverSeries(series);
    expect(report.recoveredIntervals).toBe(report.missingIntervals.length);
    for (const point of report.points) {
      if (point.origin === 'recovered') {
        expect(point.values).not.toHaveProperty('device_status');
      }
    }
    const statusGaps = report.unrecovered.filter((u) => u.dimension === 'device_status');
    expect(statusGaps.map((u) => u.at)).toEqual(report.missingIntervals);
    expect(statusGaps[0]?.reason).toBe('a device status is an observed state and is never interpolated');
  });
});

describe('data recovery on hand-made series', () => {
  const at = (k: number) => MONDAY + k * 900_000;
  const reading = (k: number, kwh: number, volts = 230): IntervalReading => ({
    at: at(k),
    values: { consumption_kwh: kwh, voltage_a: volts },
  });
  const series = (readings: IntervalReading[]): MeterSeries => ({
    meterId: 'm-1',
    intervalMs: 900_000,
    readings,
  });

  it('given a short gap, when recovered, should interpolate linearly between its two sides', () => {
    const report = recoverSeries(series([reading(0, 1, 230), reading(3, 4, 233)]));
    expect(report.points.filter((p) => p.origin === 'recovered')).toEqual([
      {
        at: at(1),
        origin: 'recovered',
        values: { consumption_kwh: 2, voltage_a: 231 },
        methods: { consumption_kwh: 'linear', voltage_a: 'linear' },
      },
      {
        at: at(2),
        origin: 'recovered',
        values: { consumption_kwh: 3, voltage_a: 232 },
        methods: { consumption_kwh: 'linear', voltage_a: 'linear' },
      },
    ]);
  });

  it('given repeats, when recovered, should keep the first arrival and say whether the repeat agreed', () => {
    const report = recoverSeries(series([reading(0, 1), reading(1, 2), reading(1, 2), reading(0, 9)]));
    expect(report.duplicates).toEqual([
      { at: at(1), identical: true },
      { at: at(0), identical: false },
    ]);
    expect(report.points[0]).toMatchObject({ origin: 'measured', values: { consumption_kwh: 1 } });
    expect(report.outOfOrderArrivals).toBe(1);
  });

  it('given a requested range wider than the data, when recovered, should not extrapolate past the last reading', () => {
    const report = recoverSeries(series([reading(1, 1), reading(2, 1)]), { from: at(0), to: at(4) });
    expect(report.missingIntervals).toEqual([at(0), at(3)]);
    expect(report.recoveredIntervals).toBe(0);
    expect(report.unrecovered).toContainEqual({
      at: at(0),
      dimension: 'consumption_kwh',
      reason: 'no reading on the earlier side of the gap',
    });
    expect(report.unrecovered).toContainEqual({
      at: at(3),
      dimension: 'voltage_a',
      reason: 'no reading on the later side of the gap',
    });
  });

  it('given a gap longer than the limit, when recovered, should leave it and say why', () => {
    const report = recoverSeries(series([reading(0, 1), reading(10, 1)]), { maxGapIntervals: 8 });
    expect(report.recoveredIntervals).toBe(0);
    expect(report.unrecovered).toHaveLength(18);
    expect(report.unrecovered[0]?.reason).toBe('a gap of 9 intervals is longer than the 8 recovered');
  });

  it('given a reading stamped inside its interval, when recovered, should count it as misaligned and file it under its interval', () => {
    const report = recoverSeries(series([reading(0, 1), { ...reading(1, 2), at: at(1) + 4_000 }]));
    expect(report.misaligned).toBe(1);
    expect(report.points.map((p) => p.at)).toEqual([at(0), at(1)]);
  });
});
