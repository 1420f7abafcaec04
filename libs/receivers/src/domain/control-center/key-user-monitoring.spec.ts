import { FleetSimulator } from '@app/meter-sdk';

import { HOUR_MS } from '../meter-series';
import { MONDAY, simulatedShare } from '../test-support/simulated-series';
import {
  DEFAULT_KEY_USER_RULES,
  type KeyUserConfig,
  KeyUserMonitor,
  parseKeyUserConfig,
} from './key-user-monitoring';

const balanced = {
  consumption_kwh: 1.2,
  voltage_a: 231,
  voltage_b: 230,
  voltage_c: 229,
  current_a: 10,
  current_b: 10,
  current_c: 10,
};

const config: KeyUserConfig = {
  rules: [
    ...DEFAULT_KEY_USER_RULES,
    { name: 'big-load', kind: 'consumption-above', kwhPerInterval: 2 },
    { name: 'cable-rating', kind: 'current-above', amperes: 63 },
  ],
  watch: [
    {
      meterId: 'plant-1',
      rules: ['voltage-band', 'voltage-unbalance', 'current-imbalance', 'big-load', 'cable-rating'],
    },
    { meterId: 'shop-2', rules: ['big-load'] },
  ],
};

describe('key-user monitoring rules', () => {
  const monitor = new KeyUserMonitor(config);
  const check = (meterId: string, values: Record<string, number>) =>
    monitor.check(meterId, { at: MONDAY, values });

  it('given a balanced reading within every limit, when checked, should raise nothing', () => {
    expect(check('plant-1', balanced)).toEqual([]);
  });

  it('given consumption above the level, when checked, should name the rule, the value and the limit', () => {
    expect(check('plant-1', { ...balanced, consumption_kwh: 2.4 })).toEqual([
      {
        meterId: 'plant-1',
        at: MONDAY,
        rule: 'big-load',
        kind: 'consumption-above',
        observed: 2.4,
        limit: 2,
        message: 'consumption 2.4 kWh in the interval, above 2 kWh',
      },
    ]);
    expect(check('plant-1', { ...balanced, consumption_kwh: 2 })).toEqual([]);
  });

  it('given a phase below the voltage band, when checked, should alert on that phase with the lower limit', () => {
    const alerts = check('plant-1', { ...balanced, voltage_b: 205, voltage_a: 208, voltage_c: 209 });
    expect(alerts.map((a) => [a.rule, a.phase, a.observed, a.limit])).toEqual([
      ['voltage-band', 'b', 205, 207],
    ]);
  });

  it('given one phase sagging 6 %, when checked, should report the voltage unbalance on that phase', () => {
    const alerts = check('plant-1', { ...balanced, voltage_a: 230, voltage_b: 230, voltage_c: 216.2 });
    expect(alerts).toEqual([
      expect.objectContaining({ rule: 'voltage-unbalance', phase: 'c', observed: 4.08, limit: 2 }),
    ]);
  });

  it('given unbalanced currents, when checked, should alert above the mean-current floor only', () => {
    const heavy = check('plant-1', { ...balanced, current_a: 30, current_b: 20, current_c: 19 });
    expect(heavy).toEqual([
      expect.objectContaining({ rule: 'current-imbalance', phase: 'a', observed: 30.43 }),
    ]);
    // The same shape at light load (mean 2.3 A) is a kettle, not a problem.
    expect(check('plant-1', { ...balanced, current_a: 3, current_b: 2, current_c: 1.9 })).toEqual([]);
  });

  it('given a current above the cable rating, when checked, should alert per phase', () => {
    const alerts = check('plant-1', { ...balanced, current_a: 70, current_b: 64, current_c: 66 });
    expect(alerts.filter((a) => a.rule === 'cable-rating').map((a) => a.phase)).toEqual(['a', 'b', 'c']);
  });

  it('given a meter watched for one rule only, when checked, should apply only that rule', () => {
    expect(check('shop-2', { ...balanced, voltage_a: 100, consumption_kwh: 3 }).map((a) => a.rule)).toEqual([
      'big-load',
    ]);
  });

  it('given a meter that is not watched, when checked, should raise nothing', () => {
    expect(monitor.isWatched('home-3')).toBe(false);
    expect(check('home-3', { ...balanced, voltage_a: 100 })).toEqual([]);
  });

  it('given a reading without the voltages, when checked, should not evaluate the voltage rules', () => {
    expect(check('plant-1', { consumption_kwh: 1 })).toEqual([]);
  });

  it('given a configuration naming an unknown rule or listing a meter twice, when parsed, should refuse it', () => {
    expect(() =>
      parseKeyUserConfig({
        rules: config.rules,
        watch: [
          { meterId: 'm-1', rules: ['no-such-rule'] },
          { meterId: 'm-2', rules: ['big-load'] },
          { meterId: 'm-2', rules: ['big-load'] },
        ],
      }),
    ).toThrow(/unknown rule "no-such-rule".*"m-2" is listed twice/);
    expect(() =>
      parseKeyUserConfig({
        rules: [{ name: 'band', kind: 'voltage-outside', minVolts: 250, maxVolts: 210 }],
        watch: [],
      }),
    ).toThrow(/minVolts must be below maxVolts/);
  });
});

describe('key-user monitoring on the simulated fleet', () => {
  const sim = new FleetSimulator({ seed: 2026, meters: 60, thieves: 3, tampered: 2, faulty: 6 });
  const defaults = DEFAULT_KEY_USER_RULES.map((r) => r.name);

  it('given the large consumers watched with the default rules for three days, when checked, should raise nothing on healthy supply', () => {
    const large = sim.meters.filter((m) => m.kind !== 'residential' && m.behaviour !== 'faulty');
    expect(large.length).toBeGreaterThan(5);
    const monitor = new KeyUserMonitor({
      rules: [...DEFAULT_KEY_USER_RULES],
      watch: large.map((m) => ({ meterId: m.meterId, rules: defaults })),
    });
    const alerts = large.flatMap((m) =>
      monitor.checkSeries(simulatedShare(sim, m.meterId, MONDAY, 288).series),
    );
    expect(alerts).toEqual([]);
  });

  it('given a meter losing a phase, when watched, should alert in every alarm and emergency interval of the fault and nowhere else', () => {
    // meter-00043 fails by phase loss from about 57 h into the week (alarm, emergency, outage, repair).
    const meterId = 'meter-00043';
    const [episode] = sim.faultEpisodes(meterId, MONDAY, MONDAY + 72 * HOUR_MS);
    expect(episode?.type).toBe('phase_loss');
    const monitor = new KeyUserMonitor({
      rules: [...DEFAULT_KEY_USER_RULES],
      watch: [{ meterId, rules: defaults }],
    });
    const share = simulatedShare(sim, meterId, MONDAY, 288);
    const alerted = new Set(monitor.checkSeries(share.series).map((a) => a.at));
    const symptomatic = share.truth
      .filter(
        (t) => t.faultType === 'phase_loss' && (t.status.state === 'alarm' || t.status.state === 'emergency'),
      )
      .map((t) => t.from);
    expect(symptomatic.length).toBeGreaterThan(3);
    expect([...alerted].sort()).toEqual(symptomatic);
  });
});
