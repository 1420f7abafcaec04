import { FleetSimulator } from '@app/meter-sdk';

import { DAY_MS, type MeterSeries } from '../meter-series';
import { MONDAY, simulatedShare } from '../test-support/simulated-series';
import { analyseTheft, theftEvidence, antiTheftOptions } from './anti-theft';

const sim = new FleetSimulator({ seed: 2026, meters: 60, thieves: 3, tampered: 2, faulty: 6 });
const thieves = sim.meters.filter((m) => m.behaviour === 'thief').map((m) => m.meterId);

function fleetShares(from: number, intervals: number): MeterSeries[] {
  return sim.meters.map((m) => simulatedShare(sim, m.meterId, from, intervals).series);
}

describe('anti-theft on the simulated fleet', () => {
  const week = fleetShares(MONDAY, (7 * DAY_MS) / sim.intervalMs);

  it('given a simulated week of 60 meters with 3 thieves, when analysed, should list exactly the thieves', () => {
    const report = analyseTheft(week);
    expect(report.suspects.map((s) => s.meterId).sort()).toEqual([...thieves].sort());
    expect(report.undetermined).toEqual([]);
    expect(report.cleared).toHaveLength(57);
  });

  it('given the week, when analysed, should give each thief reasons and evidence a person can check', () => {
    const report = analyseTheft(week);
    for (const suspect of report.suspects) {
      const fraction = sim.meter(suspect.meterId).theftFraction ?? 1;
      expect(suspect.reasons.map((r) => r.code)).toEqual(
        expect.arrayContaining(['METERED_BELOW_SUPPLIED', 'PERSISTENT_UNDER_REGISTRATION']),
      );
      expect(suspect.reasons[0]?.text).toMatch(/the register shows .* kWh where the phase currents carried/);
      // The register shows `fraction` of the energy; the supplied estimate uses pf 0.8 instead of
      // the meter's real factor, so the ratio is fraction * pf_true / 0.8.
      const pf = sim.meter(suspect.meterId).powerFactor;
      expect(suspect.evidence.ratio).toBeCloseTo((fraction * pf) / 0.8, 1);
      expect(suspect.evidence.confidence).toBeGreaterThan(0.999);
      expect(suspect.evidence.unmeteredKwh).toBeGreaterThan(0);
    }
    const unmetered = report.suspects.map((s) => s.evidence.unmeteredKwh);
    expect(unmetered).toEqual([...unmetered].sort((a, b) => b - a));
  });

  it('given the honest meters of the week, when analysed, should keep each clearly above the threshold', () => {
    const report = analyseTheft(week);
    const lowest = Math.min(...report.cleared.map((e) => e.ratio ?? 0));
    // Honest ratio = pf_true / pf_assumed, pf_true >= 0.88 in the simulator: the margin to 0.8 is wide.
    expect(lowest).toBeGreaterThan(1.05);
    expect(report.cleared.every((e) => e.confidence < 0.001)).toBe(true);
  });

  it('given faulty meters that also send zeros through their outages, when analysed, should skip those intervals and still clear them', () => {
    const faulty = sim.meters.filter((m) => m.behaviour === 'faulty').map((m) => m.meterId);
    const shares = faulty.map(
      (id) => simulatedShare(sim, id, MONDAY, (7 * DAY_MS) / sim.intervalMs, { reportOutages: true }).series,
    );
    const report = analyseTheft(shares);
    expect(report.suspects).toEqual([]);
    expect(report.cleared).toHaveLength(faulty.length);
    expect(report.cleared.reduce((sum, e) => sum + e.skipped.outage, 0)).toBeGreaterThan(0);
  });
});

describe('anti-theft on a single day, with disorder and gaps', () => {
  it('given one day shuffled, repeated and with gaps, when analysed, should still find every thief and no one else', () => {
    const day = fleetShares(MONDAY + 2 * DAY_MS, DAY_MS / sim.intervalMs).map((series) => {
      // Every fifth interval lost, the rest arriving in a scrambled order, some twice.
      const kept = series.readings.filter((_, k) => k % 5 !== 0);
      const scrambled = kept
        .map((r, k) => ({ r, key: (k * 7919) % kept.length }))
        .sort((x, y) => x.key - y.key);
      return { ...series, readings: [...scrambled.map((x) => x.r), ...kept.slice(0, 5)] };
    });
    const report = analyseTheft(day);
    expect(report.suspects.map((s) => s.meterId).sort()).toEqual([...thieves].sort());
    expect(report.suspects.every((s) => s.evidence.skipped.duplicate === 5)).toBe(true);
  });
});

describe('anti-theft decisions on hand-made series', () => {
  const at = (k: number) => MONDAY + k * 900_000;
  /** Balanced 230 V, 10 A per phase, pf 0.9: 6.21 kW, 1.5525 kWh per 15 min at the true pf. */
  const interval = (k: number, metered: number) => ({
    at: at(k),
    values: {
      consumption_kwh: metered,
      voltage_a: 230,
      voltage_b: 230,
      voltage_c: 230,
      current_a: 10,
      current_b: 10,
      current_c: 10,
    },
  });
  const series = (meterId: string, metered: (k: number) => number, count = 20): MeterSeries => ({
    meterId,
    intervalMs: 900_000,
    readings: Array.from({ length: count }, (_, k) => interval(k, metered(k))),
  });

  it('given too few usable intervals, when analysed, should leave the meter undetermined and not accuse it', () => {
    const report = analyseTheft([series('m-short', () => 0.2, 10)]);
    expect(report.suspects).toEqual([]);
    expect(report.undetermined[0]).toMatchObject({
      meterId: 'm-short',
      reason: '10 usable intervals, at least 16 needed',
    });
  });

  it('given a register that reads zero while current flows, when analysed, should name the full bypass', () => {
    const report = analyseTheft([series('m-bypass', (k) => (k % 2 === 0 ? 0 : 0.3))]);
    expect(report.suspects[0]?.reasons.map((r) => r.code)).toContain('ZERO_REGISTER');
    expect(report.suspects[0]?.evidence.zeroRegisterIntervals).toBe(10);
  });

  it('given a known low power factor for a meter, when analysed, should not accuse it for that', () => {
    // Honest at pf 0.6 (a motor load): 230 * 10 * 3 * 0.6 * 0.25 h = 1.035 kWh per interval.
    const motor = series('m-motor', () => 1.035);
    expect(analyseTheft([motor]).suspects.map((s) => s.meterId)).toEqual(['m-motor']);
    const known = analyseTheft([motor], { powerFactorByMeter: { 'm-motor': 0.6 } });
    expect(known.suspects).toEqual([]);
    expect(known.cleared[0]?.ratio).toBeCloseTo(1, 6);
  });

  it('given one odd interval in an honest meter, when analysed, should not be swayed by it', () => {
    const report = analyseTheft([series('m-honest', (k) => (k === 3 ? 0.1 : 1.5525))]);
    expect(report.suspects).toEqual([]);
  });

  it('given outage and incomplete intervals, when compared, should count them apart and leave them out', () => {
    const s = series('m-gaps', () => 1.5525);
    const readings = [
      ...s.readings,
      {
        at: at(30),
        values: {
          ...interval(30, 0).values,
          voltage_a: 0,
          voltage_b: 0,
          voltage_c: 0,
          current_a: 0,
          current_b: 0,
          current_c: 0,
        },
      },
      { at: at(31), values: { consumption_kwh: 1.2 } },
    ];
    const evidence = theftEvidence({ ...s, readings }, antiTheftOptions());
    expect(evidence.skipped).toEqual({ outage: 1, incomplete: 1, lowLoad: 0, duplicate: 0 });
    expect(evidence.intervalsConsidered).toBe(20);
  });

  it('given an impossible option, when analysing, should refuse it', () => {
    expect(() => analyseTheft([], { suspectRatio: 1.2 })).toThrow(/suspectRatio/);
  });
});
