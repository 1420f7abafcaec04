import { decodeDimension, encodeReading } from '../reading-codec';
import { isAllowedTransition, parseDeviceStatus, TRANSIENT_ALARM_CODE, FAULT_CODES } from './device-status';
import { STANDARD_DIMENSIONS, type StandardReading } from './dimensions';
import {
  FleetSimulator,
  type SimulatedMeter,
  SimulatorOptionError,
  UnknownSimulatedMeterError,
} from './fleet-simulator';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const INTERVAL = 15 * MINUTE;
/** Wednesday 14 January 2026, 00:00 UTC. */
const WINTER_WEDNESDAY = Date.UTC(2026, 0, 14);
const SATURDAY_AFTER = WINTER_WEDNESDAY + 3 * DAY;

/** The slot start times of `days` days from `start`. */
function slots(start: number, days = 1, interval = INTERVAL): number[] {
  return Array.from({ length: Math.round((days * DAY) / interval) }, (_, k) => start + k * interval);
}

/** Σ V_i·I_i over the interval, kWh: the apparent energy the phase data says flowed. */
function apparentKwh(r: StandardReading, intervalMs = INTERVAL): number {
  const va = r.voltage_a * r.current_a + r.voltage_b * r.current_b + r.voltage_c * r.current_c;
  return (va * intervalMs) / HOUR / 1000;
}

function mean(values: number[]): number {
  return values.reduce((sum, v) => sum + v, 0) / values.length;
}

const fleet = new FleetSimulator({ seed: 42, meters: 60, thieves: 4, tampered: 4, faulty: 6 });
const byBehaviour = (behaviour: SimulatedMeter['behaviour']): SimulatedMeter[] =>
  fleet.meters.filter((m) => m.behaviour === behaviour);

describe('FleetSimulator: the fleet', () => {
  it('given the same options, when two fleets are built, should list identical meters in the same order', () => {
    const again = new FleetSimulator({ seed: 42, meters: 60, thieves: 4, tampered: 4, faulty: 6 });
    expect(again.meters).toEqual(fleet.meters);
  });

  it('given another seed, when the fleet is built, should give the meters other traits', () => {
    const other = new FleetSimulator({ seed: 43, meters: 60, thieves: 4, tampered: 4, faulty: 6 });
    const differing = other.meters.filter((m, i) => JSON.stringify(m) !== JSON.stringify(fleet.meters[i]));
    expect(differing.length).toBeGreaterThan(50);
  });

  it('given counts of thieves, tampered and faulty meters, when built, should deal exactly those counts', () => {
    expect(byBehaviour('thief')).toHaveLength(4);
    expect(byBehaviour('tampered')).toHaveLength(4);
    expect(byBehaviour('faulty')).toHaveLength(6);
    expect(byBehaviour('normal')).toHaveLength(46);
    for (const m of byBehaviour('thief')) {
      expect(m.theftFraction).toBeGreaterThanOrEqual(0.2);
      expect(m.theftFraction).toBeLessThanOrEqual(0.5);
    }
    expect(byBehaviour('faulty').every((m) => m.chronicFault !== undefined)).toBe(true);
    expect(fleet.meters.filter((m) => m.theftFraction !== undefined)).toHaveLength(4);
    expect(fleet.meters.filter((m) => m.chronicFault !== undefined)).toHaveLength(6);
  });

  it('given a fleet with large consumers, when thieves are dealt, should pick them first (paper V.A)', () => {
    const large = fleet.meters.filter((m) => m.kind !== 'residential').length;
    expect(large).toBeGreaterThanOrEqual(4);
    expect(byBehaviour('thief').every((m) => m.kind !== 'residential')).toBe(true);
  });

  it('given a larger fleet with the same seed, when a meter is looked up, should keep its own traits', () => {
    const larger = new FleetSimulator({ seed: 42, meters: 200 });
    for (const m of fleet.meters) {
      const same = larger.meter(m.meterId);
      expect([same.kind, same.location, same.meanPowerKw, same.powerFactor, same.tariff]).toEqual([
        m.kind,
        m.location,
        m.meanPowerKw,
        m.powerFactor,
        m.tariff,
      ]);
    }
  });

  it('given a fleet, when its ids and traits are read, should be unique registry identifiers and plausible traits', () => {
    const ids = fleet.meters.map((m) => m.meterId);
    expect(new Set(ids).size).toBe(60);
    expect(ids[0]).toBe('meter-00001');
    for (const m of fleet.meters) {
      expect(m.meterId).toMatch(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/);
      expect(m.location).toMatch(/^[a-z-]+\/feeder-[1-4]$/);
      expect(m.powerFactor).toBeGreaterThanOrEqual(0.9);
      expect(m.powerFactor).toBeLessThanOrEqual(0.98);
      expect(m.contractedKw).toBeGreaterThan(m.meanPowerKw * 1.5);
    }
    expect(new Set(fleet.meters.map((m) => m.kind)).size).toBe(3);
    expect(
      new FleetSimulator({ seed: 1, meters: 3, idPrefix: 'gw7.m:' }).meters.map((m) => m.meterId),
    ).toEqual(['gw7.m:00001', 'gw7.m:00002', 'gw7.m:00003']);
  });

  it.each([
    [{ seed: 1.5, meters: 10 }],
    [{ seed: 1, meters: 0 }],
    [{ seed: 1, meters: 10, thieves: 5, tampered: 4, faulty: 2 }],
    [{ seed: 1, meters: 10, thieves: -1 }],
    [{ seed: 1, meters: 10, intervalMs: 7 * MINUTE }],
    [{ seed: 1, meters: 10, intervalMs: 2 * HOUR }],
    [{ seed: 1, meters: 10, idPrefix: '-meter' }],
    [{ seed: 1, meters: 10, idPrefix: 'x'.repeat(60) }],
    [{ seed: 1, meters: 10, tamperRate: 1.5 }],
    [{ seed: 1, meters: 10, utcOffsetMinutes: 30.5 }],
  ])(
    'given the invalid options %j, when a fleet is built, should refuse with a named option error',
    (options) => {
      expect(() => new FleetSimulator(options)).toThrow(SimulatorOptionError);
    },
  );

  it('given an id outside the fleet, when read, should refuse', () => {
    expect(() => fleet.reading('meter-99999', WINTER_WEDNESDAY)).toThrow(UnknownSimulatedMeterError);
  });
});

describe('FleetSimulator: readings', () => {
  const t = WINTER_WEDNESDAY + 19 * HOUR + 5 * MINUTE;

  it('given the same seed, meter and time, when read from another instance, in any order, should be identical', () => {
    const again = new FleetSimulator({ seed: 42, meters: 60, thieves: 4, tampered: 4, faulty: 6 });
    const later = t + 5 * DAY;
    const laterFirst = again.reading('meter-00007', later);
    expect(again.reading('meter-00007', t)).toEqual(fleet.reading('meter-00007', t));
    expect(laterFirst).toEqual(fleet.reading('meter-00007', later));
    // Any timestamp inside the slot names the same interval.
    expect(fleet.reading('meter-00007', t + 9 * MINUTE)).toEqual(fleet.reading('meter-00007', t));
    expect(fleet.reading('meter-00007', t + 10 * MINUTE)).not.toEqual(fleet.reading('meter-00007', t));
  });

  it('given another seed, when the same meter and time are read, should differ', () => {
    const other = new FleetSimulator({ seed: 43, meters: 60 });
    expect(other.reading('meter-00001', t)).not.toEqual(fleet.reading('meter-00001', t));
  });

  it('given seed 42, when meter-00001 is read at a fixed time, should give the pinned reading (regeneration across versions)', () => {
    expect(fleet.meter('meter-00001')).toMatchObject({ kind: 'residential', location: 'old-town/feeder-3' });
    expect(fleet.reading('meter-00001', t)).toEqual(PINNED_READING);
  });

  it('given every meter over a day, when each reading is encoded as the standard dimensions, should encode and decode back', () => {
    const failures: string[] = [];
    for (const m of fleet.meters) {
      for (const at of slots(WINTER_WEDNESDAY)) {
        const reading = fleet.reading(m.meterId, at);
        const decoded = encodeReading(STANDARD_DIMENSIONS, reading).map((bytes) => decodeDimension(bytes));
        parseDeviceStatus(reading.device_status);
        if (decoded.length !== 10 || decoded.some((value, i) => value !== reading[STANDARD_DIMENSIONS[i]!])) {
          failures.push(`${m.meterId} at ${at}`);
        }
      }
    }
    expect(failures).toEqual([]);
  });

  it('given honest meters, when V·I·pf over each interval is compared with the reported energy, should agree within 2.5 %', () => {
    const honest = fleet.meters.filter((m) => m.behaviour !== 'thief');
    let compared = 0;
    let worst = 0;
    let registerError = 0;
    for (const m of honest) {
      for (const at of slots(WINTER_WEDNESDAY)) {
        const { reading, truth } = fleet.sample(m.meterId, at);
        if (!truth.reporting) {
          continue;
        }
        const fromPhases = apparentKwh(reading) * truth.powerFactor;
        worst = Math.max(worst, Math.abs(fromPhases - reading.consumption_kwh) / reading.consumption_kwh);
        // The register is the drawn energy, to its 0.1 Wh resolution.
        registerError = Math.max(registerError, Math.abs(reading.consumption_kwh - truth.drawnKwh));
        compared++;
      }
    }
    expect(worst).toBeLessThanOrEqual(0.025);
    expect(registerError).toBeLessThanOrEqual(0.00005);
    expect(compared).toBeGreaterThan(honest.length * 90);
  });

  it('given a day of readings, when a receiver flags energy / Σ V·I below 0.7, should find exactly the thieves', () => {
    // What a control center can do with its share alone: no power factor, no ground truth.
    const flagged = fleet.meters
      .filter((m) => {
        let energy = 0;
        let apparent = 0;
        for (const at of slots(WINTER_WEDNESDAY)) {
          if (!fleet.isReporting(m.meterId, at)) {
            continue;
          }
          const reading = fleet.reading(m.meterId, at);
          energy += reading.consumption_kwh;
          apparent += apparentKwh(reading);
        }
        return energy / apparent < 0.7;
      })
      .map((m) => m.meterId);
    expect(flagged).toEqual(byBehaviour('thief').map((m) => m.meterId));
    // The thief's register shows a fraction, while the truth keeps the real draw.
    const thief = byBehaviour('thief')[0]!;
    const { reading, truth } = fleet.sample(thief.meterId, t);
    expect(truth.stealing).toBe(true);
    expect(truth.reportedKwh).toBe(reading.consumption_kwh);
    expect(truth.reportedKwh / truth.drawnKwh).toBeLessThan(0.56);
  });

  it('given residential meters on a weekday, when the evening is compared with the night, should peak in the evening', () => {
    const homes = fleet.meters.filter((m) => m.kind === 'residential');
    const average = (from: number, to: number): number =>
      mean(
        homes.flatMap((m) =>
          slots(WINTER_WEDNESDAY + from * HOUR, (to - from) / 24).map(
            (at) => fleet.truth(m.meterId, at).drawnKwh,
          ),
        ),
      );
    const evening = average(18, 21);
    const night = average(2, 5);
    const morning = average(7, 9);
    const midday = average(11, 14);
    expect(evening).toBeGreaterThan(2 * night);
    expect(morning).toBeGreaterThan(midday);
    expect(evening).toBeGreaterThan(morning);
  });

  it('given commercial and industrial meters, when weekday and weekend are compared, should follow office hours and shifts', () => {
    const sum = (kind: SimulatedMeter['kind'], start: number, fromHour: number, toHour: number): number =>
      fleet.meters
        .filter((m) => m.kind === kind)
        .flatMap((m) =>
          slots(start + fromHour * HOUR, (toHour - fromHour) / 24).map((at) => fleet.truth(m.meterId, at)),
        )
        .reduce((total, truth) => total + truth.drawnKwh, 0);
    expect(sum('commercial', WINTER_WEDNESDAY, 10, 16)).toBeGreaterThan(
      3 * sum('commercial', WINTER_WEDNESDAY, 0, 6),
    );
    expect(sum('commercial', WINTER_WEDNESDAY, 10, 16)).toBeGreaterThan(
      1.8 * sum('commercial', SATURDAY_AFTER, 10, 16),
    );
    const shift = sum('industrial', WINTER_WEDNESDAY, 8, 14);
    const night = sum('industrial', WINTER_WEDNESDAY, 0, 6);
    expect(shift).toBeGreaterThan(1.6 * night);
    // Flatter than homes: the plant's night is still more than a third of its shift.
    expect(night).toBeGreaterThan(shift / 3);
  });

  it('given winter and spring weeks, when compared, should be colder and heat more in winter', () => {
    const homes = fleet.meters
      .filter((m) => m.kind === 'residential' && m.behaviour === 'normal')
      .slice(0, 15);
    const week = (start: number): { kwh: number; celsius: number } => {
      const truths = homes.flatMap((m) => slots(start, 7, HOUR).map((at) => fleet.truth(m.meterId, at)));
      return {
        kwh: mean(truths.map((x) => x.drawnKwh)),
        celsius: mean(truths.map((x) => x.outdoorTemperatureC)),
      };
    };
    const winter = week(Date.UTC(2026, 0, 12));
    const spring = week(Date.UTC(2026, 4, 11));
    const summer = week(Date.UTC(2026, 6, 13));
    expect(summer.celsius - winter.celsius).toBeGreaterThan(12);
    expect(spring.celsius).toBeGreaterThan(winter.celsius);
    expect(winter.kwh).toBeGreaterThan(1.1 * spring.kwh);
  });

  it('given a day of normal operation, when voltages and climate are read, should stay within the supply standard and plausible ranges', () => {
    for (const m of fleet.meters) {
      for (const at of slots(WINTER_WEDNESDAY, 1, HOUR)) {
        const r = fleet.reading(m.meterId, at);
        if (r.device_status !== 'normal') {
          continue;
        }
        for (const volts of [r.voltage_a, r.voltage_b, r.voltage_c]) {
          // EN 50160: 230 V ± 10 %.
          expect(volts).toBeGreaterThan(207);
          expect(volts).toBeLessThan(253);
        }
        expect(Math.min(r.current_a, r.current_b, r.current_c)).toBeGreaterThan(0);
        expect(r.temperature_c).toBeGreaterThan(-25);
        expect(r.temperature_c).toBeLessThan(30);
        expect(r.humidity_pct).toBeGreaterThanOrEqual(5);
        expect(r.humidity_pct).toBeLessThanOrEqual(100);
      }
    }
  });
});

describe('FleetSimulator: device states, outages and tampering', () => {
  const month = slots(WINTER_WEDNESDAY, 30);

  it('given faulty meters over a month, when their states are read slot by slot, should only make the transitions of Fig. 4', () => {
    const problems: string[] = [];
    let outages = 0;
    for (const m of byBehaviour('faulty')) {
      const episodes = fleet.faultEpisodes(m.meterId, WINTER_WEDNESDAY, WINTER_WEDNESDAY + 30 * DAY);
      expect(episodes.length).toBeGreaterThanOrEqual(2);
      let previous = parseDeviceStatus(fleet.reading(m.meterId, month[0]! - INTERVAL).device_status);
      const seen = new Set<string>();
      for (const at of month) {
        const when = `${m.meterId} ${new Date(at).toISOString()}`;
        const reading = fleet.reading(m.meterId, at);
        const status = parseDeviceStatus(reading.device_status);
        if (!isAllowedTransition(previous.state, status.state)) {
          problems.push(`${when}: ${previous.state} -> ${status.state}`);
        }
        if (status.state === 'outage') {
          outages++;
          // Silent, and if asked anyway, no measurement; the customer still draws, which is what
          // the control center's recovery must estimate.
          if (fleet.isReporting(m.meterId, at) || reading.consumption_kwh !== 0 || reading.voltage_a !== 0) {
            problems.push(`${when}: an outage that reports`);
          }
          if (!(fleet.truth(m.meterId, at).drawnKwh > 0)) {
            problems.push(`${when}: nothing drawn in an outage`);
          }
        }
        // The slot is in an episode exactly when the schedule says so, with the episode's code.
        const episode = episodes.find((e) => e.start <= at && at < e.end);
        const phase = episode?.phases.find((p) => p.from <= at && at < p.to);
        const expected = episode ? `${phase?.state}:${episode.code}` : undefined;
        if (
          expected !== undefined
            ? reading.device_status !== expected
            : !['normal', 'alarm'].includes(status.state)
        ) {
          problems.push(`${when}: ${reading.device_status}, the schedule says ${expected ?? 'no episode'}`);
        }
        if (fleet.deviceStatus(m.meterId, at).state !== status.state) {
          problems.push(`${when}: deviceStatus disagrees with the reading`);
        }
        seen.add(status.state);
        previous = status;
      }
      expect([...seen]).toEqual(expect.arrayContaining(['normal', 'alarm', 'emergency', 'repair']));
    }
    expect(problems).toEqual([]);
    expect(outages).toBeGreaterThan(0);
  });

  it('given healthy meters over a month, when their states are read, should be normal with the odd transient alarm', () => {
    const codes = new Map<string, number>();
    for (const m of fleet.meters.filter((x) => x.behaviour !== 'faulty')) {
      expect(fleet.faultEpisodes(m.meterId, WINTER_WEDNESDAY, WINTER_WEDNESDAY + 30 * DAY)).toEqual([]);
      for (const at of month) {
        const status = fleet.reading(m.meterId, at).device_status;
        codes.set(status, (codes.get(status) ?? 0) + 1);
      }
    }
    expect([...codes.keys()].sort()).toEqual([`alarm:${TRANSIENT_ALARM_CODE}`, 'normal']);
    const alarmShare = (codes.get(`alarm:${TRANSIENT_ALARM_CODE}`) ?? 0) / (codes.get('normal') ?? 1);
    expect(alarmShare).toBeGreaterThan(0.0001);
    expect(alarmShare).toBeLessThan(0.01);
  });

  it('given fault episodes, when their alarm and emergency readings are taken, should show the fault physically', () => {
    const checked = new Set<string>();
    const meters = new FleetSimulator({ seed: 7, meters: 40, faulty: 30 });
    for (const m of meters.meters.filter((x) => x.behaviour === 'faulty')) {
      for (const episode of meters.faultEpisodes(m.meterId, WINTER_WEDNESDAY, WINTER_WEDNESDAY + 12 * DAY)) {
        const emergency = episode.phases.find((p) => p.state === 'emergency');
        if (!emergency || episode.start < WINTER_WEDNESDAY) {
          continue;
        }
        const before = meters.reading(m.meterId, episode.start - INTERVAL);
        const during = meters.reading(m.meterId, emergency.from);
        const outdoor = meters.truth(m.meterId, emergency.from).outdoorTemperatureC;
        switch (episode.type) {
          case 'overheating':
            expect(during.temperature_c - outdoor).toBeGreaterThan(20);
            break;
          case 'moisture':
            expect(during.humidity_pct).toBeGreaterThanOrEqual(95);
            break;
          case 'phase_loss': {
            const volts = [during.voltage_a, during.voltage_b, during.voltage_c];
            expect(Math.min(...volts)).toBeLessThan(0.86 * Math.max(...volts));
            break;
          }
          case 'firmware':
            expect(episode.phases.map((p) => p.state)).toEqual(['alarm', 'emergency', 'repair']);
            break;
        }
        expect(before.device_status).toBe('normal');
        expect(during.device_status).toBe(`emergency:${FAULT_CODES[episode.type]}`);
        checked.add(episode.type);
      }
    }
    expect(checked.size).toBe(4);
  });

  it('given tampered meters over a week, when tamperAt is asked, should mark about the tamper rate of their reports and nothing else', () => {
    const week = slots(WINTER_WEDNESDAY, 7);
    for (const m of fleet.meters) {
      const marked = week.filter((at) => fleet.tamperAt(m.meterId, at));
      if (m.behaviour !== 'tampered') {
        expect(marked).toEqual([]);
        continue;
      }
      // 672 reports at 2 %: about 13; a deterministic draw, so the bounds are loose but real.
      expect(marked.length).toBeGreaterThanOrEqual(4);
      expect(marked.length).toBeLessThanOrEqual(30);
      for (const at of marked) {
        expect(fleet.truth(m.meterId, at).tampered).toBe(true);
      }
    }
  });

  it('given an hourly interval and a time zone, when read, should keep energy per interval and shift the local curve', () => {
    const hourly = new FleetSimulator({ seed: 42, meters: 60, intervalMs: HOUR, utcOffsetMinutes: 8 * 60 });
    const homes = hourly.meters.filter((m) => m.kind === 'residential' && m.behaviour === 'normal');
    // 19:00 local in UTC+8 is 11:00 UTC; 03:00 local is 19:00 UTC the day before.
    const at = (utcHour: number): number =>
      mean(homes.map((m) => hourly.reading(m.meterId, WINTER_WEDNESDAY + utcHour * HOUR).consumption_kwh));
    expect(at(11)).toBeGreaterThan(2 * at(19));
    const r = hourly.reading(homes[0]!.meterId, WINTER_WEDNESDAY + 11 * HOUR);
    const truth = hourly.truth(homes[0]!.meterId, WINTER_WEDNESDAY + 11 * HOUR);
    expect(apparentKwh(r, HOUR) * truth.powerFactor).toBeCloseTo(r.consumption_kwh, 1);
    expect(truth.to - truth.from).toBe(HOUR);
  });
});

/** Pinned from the model as first committed; a change here breaks regeneration by other parties. */
const PINNED_READING: StandardReading = {
  consumption_kwh: 0.578,
  voltage_a: 222.1,
  voltage_b: 224,
  voltage_c: 222.5,
  current_a: 5.829,
  current_b: 1.799,
  current_c: 3.196,
  temperature_c: 4.3,
  humidity_pct: 71.2,
  device_status: 'normal',
};
