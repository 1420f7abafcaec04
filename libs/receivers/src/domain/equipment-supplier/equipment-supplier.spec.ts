import { FleetSimulator, formatDeviceStatus, type MeterTruth } from '@app/meter-sdk';

import { DAY_MS } from '../meter-series';
import { MONDAY } from '../test-support/simulated-series';
import { classStatistics, deviceStatistics, type DeviceStatistics } from './device-statistics';
import { trackDeviceStates } from './device-state-machine';
import { predictFailures } from './failure-prediction';
import { type DeviceInfo, faultReports } from './fault-reports';

const sim = new FleetSimulator({ seed: 2026, meters: 60, thieves: 3, tampered: 2, faulty: 6 });
const SLOTS = (14 * DAY_MS) / sim.intervalMs;

/** Two weeks of one meter as the supplier receives it (statuses of the intervals it reported) and as it was. */
function fortnight(meterId: string) {
  const truth: MeterTruth[] = Array.from({ length: SLOTS }, (_, k) =>
    sim.truth(meterId, MONDAY + k * sim.intervalMs),
  );
  const reported = truth
    .filter((t) => t.reporting)
    .map((t) => ({ at: t.from, status: formatDeviceStatus(t.status) }));
  const meter = sim.meter(meterId);
  const device: DeviceInfo = { deviceId: meterId, location: meter.location, deviceClass: meter.kind };
  const timeline = trackDeviceStates(meterId, reported, sim.intervalMs);
  // The truth over the span the supplier can judge: first to last report.
  const first = reported[0]?.at ?? 0;
  const last = reported.at(-1)?.at ?? 0;
  return { device, timeline, truth: truth.filter((t) => t.from >= first && t.from <= last) };
}

/** Entries into a state and time in it, counted from the truth interval by interval. */
function fromTruth(truth: MeterTruth[], state: string) {
  let entries = 0;
  let slots = 0;
  truth.forEach((t, k) => {
    if (t.status.state === state) {
      slots += 1;
      if (k === 0 || truth[k - 1]?.status.state !== state) {
        entries += 1;
      }
    }
  });
  return { entries, ms: slots * sim.intervalMs };
}

const fleet = sim.meters.map((m) => fortnight(m.meterId));
const statistics: DeviceStatistics[] = fleet.map((f) => deviceStatistics(f.timeline, f.device));
const faulty = sim.meters.filter((m) => m.behaviour === 'faulty').map((m) => m.meterId);

describe('fault reports', () => {
  it('given a firmware fault, when reported, should ask for a remote repair with the device, place, type and number', () => {
    const { timeline, device } = fleet.find((f) => f.device.deviceId === 'meter-00037') ?? fleet[0]!;
    const reports = faultReports(timeline, device).filter((r) => r.faultType !== 'transient');
    expect(reports.length).toBeGreaterThanOrEqual(2);
    expect(reports[0]).toMatchObject({
      deviceId: 'meter-00037',
      location: sim.meter('meter-00037').location,
      faultType: 'firmware',
      code: 'E41',
      worstState: 'emergency',
      maintenance: 'remote',
      startObserved: true,
    });
    const [episode] = sim.faultEpisodes('meter-00037', MONDAY, MONDAY + 14 * DAY_MS);
    expect(reports[0]?.time).toBe(episode?.start);
    expect(reports[0]?.endedAt).toBe(episode?.end);
  });

  it('given hardware faults with outages, when reported, should send a crew and number the events in order', () => {
    const { timeline, device } = fleet.find((f) => f.device.deviceId === 'meter-00010') ?? fleet[0]!;
    const reports = faultReports(timeline, device, { firstEventNumber: 41 });
    expect(reports.map((r) => r.eventNumber)).toEqual(reports.map((_, i) => 41 + i));
    const hardware = reports.filter((r) => r.faultType === 'overheating');
    expect(hardware.length).toBeGreaterThanOrEqual(2);
    for (const report of hardware) {
      expect(report).toMatchObject({ maintenance: 'on-site', worstState: 'outage', code: 'E11' });
      expect(report.states.map((s) => s.state)).toEqual(['alarm', 'emergency', 'outage', 'repair']);
      expect(report.states.find((s) => s.state === 'outage')?.inferred).toBe(true);
    }
  });

  it('given a short alarm that cleared by itself, when reported, should need no maintenance', () => {
    const transient = fleet
      .flatMap((f) => faultReports(f.timeline, f.device))
      .filter((r) => r.faultType === 'transient');
    expect(transient.length).toBeGreaterThan(0);
    expect(
      transient.every((r) => r.maintenance === 'none' && r.worstState === 'alarm' && r.code === 'W01'),
    ).toBe(true);
  });
});

describe('device statistics', () => {
  it('given two weeks of statuses, when summarised, should match the true alarm count, outages and outage time of every device', () => {
    fleet.forEach((f, i) => {
      const stats = statistics[i]!;
      const alarm = fromTruth(f.truth, 'alarm');
      const outage = fromTruth(f.truth, 'outage');
      const normal = fromTruth(f.truth, 'normal');
      expect([f.device.deviceId, stats.alarmCount, stats.outageCount, stats.outageMs]).toEqual([
        f.device.deviceId,
        alarm.entries,
        outage.entries,
        outage.ms,
      ]);
      expect(stats.observedMs).toBe(f.truth.length * sim.intervalMs);
      expect(stats.failureShare).toBeCloseTo(1 - normal.ms / stats.observedMs, 6);
      expect(stats.impossibleTransitions).toBe(0);
    });
  });

  it('given the fleet, when summarised, should show the faulty meters failing and outaged, and the healthy ones not', () => {
    for (const stats of statistics) {
      if (faulty.includes(stats.deviceId)) {
        expect(stats.failures).toBeGreaterThanOrEqual(1);
        expect(stats.failureShare).toBeGreaterThan(0.01);
      } else {
        expect(stats.failures).toBe(0);
        expect(stats.outageCount).toBe(0);
      }
    }
    const withOutages = statistics.filter((s) => s.outageCount > 0).map((s) => s.deviceId);
    expect(withOutages.sort()).toEqual(faulty.filter((id) => id !== 'meter-00037').sort());
  });

  it('given the fleet, when aggregated per class, should add up the devices of each class', () => {
    const classes = classStatistics(statistics);
    expect(classes.map((c) => c.deviceClass)).toEqual(['commercial', 'industrial', 'residential']);
    expect(classes.reduce((sum, c) => sum + c.devices, 0)).toBe(60);
    const residential = classes.find((c) => c.deviceClass === 'residential');
    const homes = statistics.filter((s) => s.deviceClass === 'residential');
    expect(residential?.alarmCount).toBe(homes.reduce((sum, s) => sum + s.alarmCount, 0));
    expect(residential?.failures).toBe(homes.reduce((sum, s) => sum + s.failures, 0));
    expect(residential?.failuresPerDeviceYear).toBeGreaterThan(0);
  });
});

describe('failure prediction', () => {
  it('given two weeks of the fleet, when predicted, should rank every faulty meter above every healthy one', () => {
    const predictions = predictFailures(statistics);
    expect(
      predictions
        .slice(0, faulty.length)
        .map((p) => p.deviceId)
        .sort(),
    ).toEqual([...faulty].sort());
    const healthiest = predictions[faulty.length];
    const weakest = predictions[faulty.length - 1];
    expect(weakest!.probability).toBeGreaterThan(healthiest!.probability);
    expect(predictions.map((p) => p.rank)).toEqual(predictions.map((_, i) => i + 1));
  });

  it('given a faulty meter, when predicted, should shrink its own rate towards its class and keep the estimate inside its interval', () => {
    const predictions = predictFailures(statistics, { horizonDays: 7 });
    for (const p of predictions.filter((x) => faulty.includes(x.deviceId))) {
      const ownRatePerYear = (p.failures / p.exposureDays) * 365;
      expect(p.classRatePerYear).toBeLessThan(p.ratePerYear);
      expect(p.ratePerYear).toBeLessThan(ownRatePerYear);
      expect(p.rateIntervalPerYear.lower).toBeLessThan(p.ratePerYear);
      expect(p.ratePerYear).toBeLessThan(p.rateIntervalPerYear.upper);
      expect(p.probability).toBeCloseTo(1 - Math.exp((-p.ratePerYear / 365) * 7), 4);
    }
  });

  it('given a class that rarely fails, when predicted, should keep each healthy device inside its own interval', () => {
    // One failure among 60 meters in two weeks: about 0.2 failures per device-year, so a healthy
    // meter's posterior shape is 0.02 (the Wilson-Hilferty approximation gave it [0, 0]).
    const device = (deviceId: string, failures: number): DeviceStatistics => ({
      ...statistics[0]!,
      deviceId,
      deviceClass: 'quiet',
      failures,
      exposureMs: 14 * DAY_MS,
    });
    const fleet = [
      device('quiet-0', 1),
      ...Array.from({ length: 59 }, (_, i) => device(`quiet-${i + 1}`, 0)),
    ];
    const healthy = predictFailures(fleet).find((p) => p.deviceId === 'quiet-1')!;
    expect(healthy.ratePerYear).toBeGreaterThan(0);
    expect(healthy.rateIntervalPerYear.lower).toBeLessThanOrEqual(healthy.ratePerYear);
    expect(healthy.rateIntervalPerYear.upper).toBeGreaterThan(healthy.ratePerYear);
    expect(healthy.probabilityInterval.lower).toBeLessThanOrEqual(healthy.probability);
    expect(healthy.probabilityInterval.upper).toBeGreaterThan(healthy.probability);
  });

  it('given a new device with no history, when predicted, should start at its class rate', () => {
    const fresh: DeviceStatistics = {
      ...statistics[0]!,
      deviceId: 'new-1',
      deviceClass: 'residential',
      failures: 0,
      exposureMs: 0,
    };
    const residential = statistics.filter((s) => s.deviceClass === 'residential');
    const classRate =
      residential.reduce((s, d) => s + d.failures, 0) /
      (residential.reduce((s, d) => s + d.exposureMs, 0) / DAY_MS);
    const p = predictFailures([...residential, fresh]).find((x) => x.deviceId === 'new-1');
    expect(p?.ratePerYear).toBeCloseTo(classRate * 365, 2);
    expect(p?.probability).toBeCloseTo(1 - Math.exp(-classRate * 7), 4);
  });
});
