import { z } from 'zod';

import { type IntervalReading, isFiniteNumber, type MeterSeries, type Phase, PHASES } from '../meter-series';
import { round } from '../statistics';

// Bound once: inside jest's vm context every global lookup such as `Math` is slow.
const { abs, max } = Math;

/**
 * Key-user monitoring (paper V.A): the CC watches a configured list of meters (large consumers,
 * sensitive sites, anti-theft suspects) interval by interval against named rules, and raises an
 * alert naming the rule that fired, the value seen and the limit.
 */

const ruleName = z.string().regex(/^[a-z][a-z0-9_-]{0,63}$/, 'must be a lower-case name (a-z, 0-9, _ -)');
const meterId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'must be a meter identifier');
const positive = z.number().positive().finite();

export const keyUserRuleSchema = z.discriminatedUnion('kind', [
  /** Energy of one interval above a level (kWh): a load the contract or the feeder cannot take. */
  z.object({ name: ruleName, kind: z.literal('consumption-above'), kwhPerInterval: positive }).strict(),
  /** A phase current above a level (A): the service cable's or the meter's rating. */
  z.object({ name: ruleName, kind: z.literal('current-above'), amperes: positive }).strict(),
  /** A phase voltage outside a band (V): supply quality (EN 50160: 230 V ± 10 %). */
  z
    .object({ name: ruleName, kind: z.literal('voltage-outside'), minVolts: positive, maxVolts: positive })
    .strict()
    .refine((r) => r.minVolts < r.maxVolts, 'minVolts must be below maxVolts'),
  /**
   * Phase imbalance above a percentage: the largest deviation of a phase from the three-phase mean,
   * over that mean (the NEMA definition), of the currents or of the voltages. For currents, only
   * when the mean current is at least minMeanAmperes: at light load any imbalance is harmless.
   */
  z
    .object({
      name: ruleName,
      kind: z.literal('imbalance-above'),
      quantity: z.enum(['current', 'voltage']),
      percent: z.number().positive().max(200),
      minMeanAmperes: z.number().min(0).finite().optional(),
    })
    .strict(),
]);

export type KeyUserRule = z.infer<typeof keyUserRuleSchema>;

export const keyUserConfigSchema = z
  .object({
    rules: z.array(keyUserRuleSchema).min(1).max(256),
    /** Each watched meter and the names of the rules that apply to it. */
    watch: z.array(z.object({ meterId, rules: z.array(ruleName).min(1).max(64) }).strict()).max(100_000),
  })
  .strict()
  .superRefine((config, ctx) => {
    const names = new Set<string>();
    for (const rule of config.rules) {
      if (names.has(rule.name)) {
        ctx.addIssue({ code: 'custom', message: `rule "${rule.name}" is defined twice` });
      }
      names.add(rule.name);
    }
    const watched = new Set<string>();
    for (const entry of config.watch) {
      if (watched.has(entry.meterId)) {
        ctx.addIssue({ code: 'custom', message: `meter "${entry.meterId}" is listed twice` });
      }
      watched.add(entry.meterId);
      for (const name of entry.rules) {
        if (!names.has(name)) {
          ctx.addIssue({ code: 'custom', message: `meter "${entry.meterId}" names unknown rule "${name}"` });
        }
      }
    }
  });

export type KeyUserConfig = z.infer<typeof keyUserConfigSchema>;

/**
 * Rules worth applying to any key user: the EN 50160 voltage band, its 2 % voltage unbalance (our
 * max-deviation measure is close to the standard's negative-sequence ratio for small unbalance), and
 * a 20 % current imbalance once the mean phase current reaches 5 A (above that, imbalance overheats
 * the neutral and the transformer; below it, one kettle unbalances any home). A consumption level has
 * no default: it depends on the customer.
 */
export const DEFAULT_KEY_USER_RULES: readonly KeyUserRule[] = Object.freeze([
  { name: 'voltage-band', kind: 'voltage-outside', minVolts: 207, maxVolts: 253 },
  { name: 'voltage-unbalance', kind: 'imbalance-above', quantity: 'voltage', percent: 2 },
  { name: 'current-imbalance', kind: 'imbalance-above', quantity: 'current', percent: 20, minMeanAmperes: 5 },
] as const satisfies readonly KeyUserRule[]);

export interface KeyUserAlert {
  meterId: string;
  /** The interval the reading describes. */
  at: number;
  rule: string;
  kind: KeyUserRule['kind'];
  /** The phase concerned, for per-phase rules. */
  phase?: Phase;
  observed: number;
  limit: number;
  message: string;
}

export class KeyUserConfigError extends RangeError {
  readonly code = 'RECEIVERS.BAD_KEY_USER_CONFIG';
}

/** Validates a configuration (from a table or a job payload) and returns it typed. */
export function parseKeyUserConfig(input: unknown): KeyUserConfig {
  const parsed = keyUserConfigSchema.safeParse(input);
  if (!parsed.success) {
    throw new KeyUserConfigError(parsed.error.issues.map((issue) => issue.message).join('; '));
  }
  return parsed.data;
}

export class KeyUserMonitor {
  readonly #rulesByMeter: ReadonlyMap<string, readonly KeyUserRule[]>;

  constructor(config: KeyUserConfig) {
    const checked = parseKeyUserConfig(config);
    const byName = new Map(checked.rules.map((rule) => [rule.name, rule]));
    this.#rulesByMeter = new Map(
      checked.watch.map((entry) => [
        entry.meterId,
        entry.rules.map((name) => byName.get(name)).filter((rule) => rule !== undefined),
      ]),
    );
  }

  isWatched(meterId: string): boolean {
    return this.#rulesByMeter.has(meterId);
  }

  /**
   * The alerts one reading raises; none for a meter that is not watched. A rule whose dimensions the
   * reading lacks is not evaluated (nothing is assumed about a value that was not sent).
   */
  check(meterId: string, reading: IntervalReading): KeyUserAlert[] {
    const rules = this.#rulesByMeter.get(meterId);
    if (!rules) {
      return [];
    }
    const alerts: KeyUserAlert[] = [];
    for (const rule of rules) {
      evaluateRule(rule, meterId, reading, alerts);
    }
    return alerts;
  }

  /** Every alert of a series, in interval order (the series may arrive unsorted). */
  checkSeries(series: MeterSeries): KeyUserAlert[] {
    const sorted = [...series.readings].sort((x, y) => x.at - y.at);
    return sorted.flatMap((reading) => this.check(series.meterId, reading));
  }
}

function phaseValues(reading: IntervalReading, prefix: 'voltage' | 'current'): Array<number | undefined> {
  return PHASES.map((p) => {
    const value = reading.values[`${prefix}_${p}`];
    return isFiniteNumber(value) ? value : undefined;
  });
}

function evaluateRule(
  rule: KeyUserRule,
  meterId: string,
  reading: IntervalReading,
  out: KeyUserAlert[],
): void {
  const base = { meterId, at: reading.at, rule: rule.name, kind: rule.kind };
  switch (rule.kind) {
    case 'consumption-above': {
      const kwh = reading.values.consumption_kwh;
      if (isFiniteNumber(kwh) && kwh > rule.kwhPerInterval) {
        out.push({
          ...base,
          observed: kwh,
          limit: rule.kwhPerInterval,
          message: `consumption ${kwh} kWh in the interval, above ${rule.kwhPerInterval} kWh`,
        });
      }
      return;
    }
    case 'current-above':
      phaseValues(reading, 'current').forEach((amperes, i) => {
        const phase = PHASES[i] as Phase;
        if (amperes !== undefined && amperes > rule.amperes) {
          out.push({
            ...base,
            phase,
            observed: amperes,
            limit: rule.amperes,
            message: `phase ${phase} current ${amperes} A, above ${rule.amperes} A`,
          });
        }
      });
      return;
    case 'voltage-outside':
      phaseValues(reading, 'voltage').forEach((volts, i) => {
        const phase = PHASES[i] as Phase;
        if (volts === undefined || (volts >= rule.minVolts && volts <= rule.maxVolts)) {
          return;
        }
        const limit = volts < rule.minVolts ? rule.minVolts : rule.maxVolts;
        out.push({
          ...base,
          phase,
          observed: volts,
          limit,
          message: `phase ${phase} voltage ${volts} V, outside ${rule.minVolts}-${rule.maxVolts} V`,
        });
      });
      return;
    case 'imbalance-above': {
      const values = phaseValues(reading, rule.quantity === 'current' ? 'current' : 'voltage');
      if (values.some((v) => v === undefined)) {
        return;
      }
      const [x, y, z3] = values as [number, number, number];
      const mean = (x + y + z3) / 3;
      if (mean <= 0 || (rule.quantity === 'current' && mean < (rule.minMeanAmperes ?? 0))) {
        return;
      }
      const deviations = [abs(x - mean), abs(y - mean), abs(z3 - mean)];
      const worst = max(...deviations);
      const percent = round((worst / mean) * 100, 2);
      if (percent > rule.percent) {
        const phase = PHASES[deviations.indexOf(worst)] as Phase;
        out.push({
          ...base,
          phase,
          observed: percent,
          limit: rule.percent,
          message: `${rule.quantity} imbalance ${percent} % (phase ${phase} furthest from the mean), above ${rule.percent} %`,
        });
      }
      return;
    }
  }
}
