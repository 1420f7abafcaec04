/**
 * A fleet of simulated smart meters whose readings are pure functions of (options, meter id, time):
 * the meter gateway, the benchmark, the devnet and a receiver's test can each regenerate exactly the
 * same data without sharing any file. Nothing here reads the clock or Math.random.
 *
 * THE MODEL (units in brackets; the numbers live in load-profiles.ts, climate.ts, fault-schedule.ts)
 *
 * Time. A reading describes one interval ("slot") of intervalMs (default 15 min); slot k covers
 * [k*intervalMs, (k+1)*intervalMs) since the Unix epoch, and every timestamp inside it gives the same
 * reading (a gateway reporting at the end of an interval asks for that interval's start). Physics is
 * evaluated at the slot's midpoint, in local time (UTC + utcOffsetMinutes).
 *
 * Fleet. Each meter draws its kind (80 % residential, 15 % commercial, 5 % industrial), district,
 * feeder, mean power and habits from a stream keyed by (seed, meter id) alone, so a meter keeps them
 * whatever the fleet size. Behaviours are then dealt by a seeded ranking: thieves first among the
 * commercial and industrial meters (the paper, V.A: thieves are mainly large consumers), then
 * tampered, then faulty; the rest are normal. Counts are exact.
 *
 * Outdoor weather [°C, % RH] per district: T = annual mean − seasonal amplitude·cos(season, coldest
 * mid-January) + daily amplitude·cos(hour, warmest 15:00) + a smooth day-to-day anomaly (σ 2.5 °C)
 * shared by the district. Humidity is higher in winter, at night and in cool spells.
 *
 * Power drawn [kW], averaged over the slot:
 *   P = meanPower · shape(kind, weekday|weekend, local hour − habit shift)
 *         · (1 + heating·max(0, 15 − T_dayMean) + cooling·max(0, T − 22))
 *         · lognormal noise (σ 0.18 homes, 0.07 shops, 0.05 plants; mean 1)
 *       + for homes, now and then, an appliance burst (1-3 kW for part of the slot).
 *   Shapes: homes peak at breakfast and more at 19:00-20:00 with a trough at 03:00; shops and offices
 *   have an 08:00-18:00 plateau and a quiet weekend; plants run two shifts 06:00-22:00 over a base
 *   load. Heating follows the day's mean (buildings are slow), cooling the afternoon heat; a quarter of
 *   homes heat electrically (0.06/°C instead of 0.012/°C).
 *   drawn energy [kWh] = P · intervalMs / 3.6e6.
 *
 * Three phases a, b, c. The meter splits P over its phases by fixed weights (homes very unbalanced,
 * plants nearly balanced) with a per-slot jitter; power factor pf per meter in 0.90-0.98 with a small
 * per-slot wobble (σ 0.008, kept in 0.88-0.99; the truth has each slot's value).
 *   V_i [V, phase-to-neutral RMS] = 230 · (1 + feeder tap (−0.5..+2.5 %) + position on the feeder
 *         (−2..0 %) + phase offset (σ 0.4 %) − 3 %·network load(hour) + feeder noise (σ 0.4 %, shared
 *         by the feeder) + phase noise (σ 0.3 %)) · (1 − 1.2 %·own phase power / (contracted power/3)).
 *   I_i [A, RMS] = P_i / (V_i · pf) · (1 + metering noise, σ 0.6 %, at most ±1.8 %).
 *   So for an honest meter Σ V_i·I_i·pf·Δt equals the reported energy within about 2 %.
 *
 * Reported consumption [kWh]: the drawn energy; 0 in an outage (the meter is dead, the customer still
 * draws: the truth keeps the drawn energy for the CC's data recovery).
 *   Thieves ("high supply, low meter"): the register is bypassed in part, and shows only a fraction
 *   (0.2-0.5 per meter, σ 0.02 per slot) of the drawn energy, while the phase currents still carry the
 *   whole load. consumption / Σ V·I·Δt is then at most about 0.56, against at least 0.86 for honest
 *   meters: any receiver holding consumption, voltages and currents can separate them.
 *   (Bounds: thief ≤ 0.55·0.99·1.018 ≈ 0.56; honest ≥ 0.88·0.982 ≈ 0.86.)
 *
 * Enclosure climate: temperature_c [°C] = T + self-heating (2-4 °C at contracted power) + sensor noise
 * (σ 0.15); humidity_pct [%] = outdoor RH lowered by that warming (−6 %/°C, relative) + noise (σ 0.8).
 *
 * device_status ("normal" | "<state>:<code>", device-status.ts) follows fault-schedule.ts: every
 * meter has a short (15-60 min) self-clearing alarm on ~3 % of days (W01; 10 % for a faulty meter);
 * a faulty meter in addition fails roughly every five days, mostly in its own chronic way:
 * alarm (30 min-4 h) -> emergency (15 min-2 h) -> outage (2-18 h) -> repair on site (1-4 h) -> normal,
 * or for a firmware fault alarm -> emergency -> remote repair (15-60 min) -> normal. Symptoms in alarm
 * and emergency: overheating raises the enclosure temperature (+8..15 / +20..35 °C), moisture drives
 * humidity to 86-92 / 95-100 %, phase_loss sags one phase (−4..8 % / −15..25 %). In an outage the
 * meter does not report (isReporting); if asked anyway, its electrical values are 0.
 *
 * Tampering (tampered meters only) is ground truth for a later stage that alters signed report
 * bytes: tamperAt picks, per slot, about tamperRate (default 2 %) of the reports such a meter sends.
 */
import { clamp, Climate, type District, DISTRICTS } from './climate';
import {
  type DeviceStatus,
  FAULT_CODES,
  FAULT_TYPES,
  type FaultType,
  formatDeviceStatus,
  type DeviceState,
} from './device-status';
import type { StandardReading } from './dimensions';
import { FaultSchedule, type ScheduledEpisode } from './fault-schedule';
import {
  ELECTRIC_HEATING_PER_C,
  ELECTRIC_HEATING_SHARE,
  KIND_PROFILES,
  KIND_SHARE,
  type KindProfile,
  type MeterKind,
  networkLoad,
  shapeAt,
} from './load-profiles';
import { hashString, mixWords, Rng, words } from './prng';
import { DAY_MS, HOUR_MS, isWeekend, localTime, MINUTE_MS } from './time';

// Bound once, as in prng.ts: global lookups are slow inside jest's vm context.
const { ceil, exp, floor, max, min, round: roundToInteger } = Math;

export type MeterBehaviour = 'normal' | 'thief' | 'tampered' | 'faulty';

/** How the meter's owner is billed (the grid operator's contract, paper V.B). */
export type TariffClass = 'residential-flat' | 'residential-time-of-use' | 'commercial' | 'industrial';

export interface SimulatedMeter {
  meterId: string;
  kind: MeterKind;
  /** Ground truth for tests; no receiver learns it from the data except by analysis. */
  behaviour: MeterBehaviour;
  /** "<district>/feeder-<n>": where a fault crew goes, and which meters share a feeder's voltage. */
  location: string;
  district: string;
  tariff: TariffClass;
  /** Prepaid meters are the ones Algorithm 1 warns when the balance runs low. */
  prepaid: boolean;
  /**
   * Contracted power, kW: the threshold of Algorithm 1's power-saving mode, to compare with
   * consumption_kwh / interval hours. Set well above the usual peak; cold evenings can exceed it.
   */
  contractedKw: number;
  /** Weekly mean power at mild temperature, kW. */
  meanPowerKw: number;
  /** The meter's typical power factor (each slot wobbles around it; the truth has the exact value). */
  powerFactor: number;
  electricHeating: boolean;
  /** Thieves only: the share of the drawn energy their register shows. */
  theftFraction?: number;
  /** Faulty meters only: the way they usually fail. */
  chronicFault?: FaultType;
}

export interface FleetOptions {
  seed: number;
  meters: number;
  thieves?: number;
  tampered?: number;
  faulty?: number;
  /** Meter ids are this prefix and a zero-padded number from 1: "meter-00001". */
  idPrefix?: string;
  /** Reading interval, ms; must divide a day and lie in 1 s..1 h. Default 15 min. */
  intervalMs?: number;
  /** Share of a tampered meter's reports that tamperAt marks. Default 0.02. */
  tamperRate?: number;
  /** Local time = UTC + this, for the daily curves and the weather. Default 0. */
  utcOffsetMinutes?: number;
}

/** What really happened in one meter's interval, beside what the reading says. */
export interface MeterTruth {
  slot: number;
  /** The interval the reading describes, [from, to), ms since the epoch. */
  from: number;
  to: number;
  status: DeviceStatus;
  /** The fault being lived through, when the status belongs to a fault episode. */
  faultType?: FaultType;
  reporting: boolean;
  tampered: boolean;
  stealing: boolean;
  /** Energy that flowed to the customer in the interval, kWh (also while the meter is out). */
  drawnKwh: number;
  /** What the reading says, kWh. */
  reportedKwh: number;
  powerFactor: number;
  outdoorTemperatureC: number;
  outdoorHumidityPct: number;
}

export interface FaultEpisode {
  type: FaultType;
  code: string;
  /** [start, end), ms since the epoch. */
  start: number;
  end: number;
  phases: Array<{ state: Exclude<DeviceState, 'normal'>; from: number; to: number }>;
}

export class SimulatorOptionError extends RangeError {
  readonly code = 'METER_SDK.BAD_SIMULATOR_OPTION';
}

export class UnknownSimulatedMeterError extends RangeError {
  readonly code = 'METER_SDK.UNKNOWN_SIMULATED_METER';
}

const NOMINAL_VOLTAGE = 230;
const MAX_METERS = 1_000_000;
const ID_PREFIX_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;
const MAX_ID_LENGTH = 64;

const STREAM_METER = 0x4d455452;
const STREAM_ROLE = 0x524f4c45;
const STREAM_FEEDER = 0x46445200;
const STREAM_FEEDER_SLOT = 0x46445253;
const STREAM_SLOT = 0x534c4f54;
const STREAM_TAMPER = 0x54414d50;

/** Everything about a meter that does not change from slot to slot. */
interface MeterModel {
  meter: SimulatedMeter;
  key: number;
  profile: KindProfile;
  district: District;
  feederKey: number;
  habitShiftH: number;
  heatingPerC: number;
  phaseWeights: readonly [number, number, number];
  /** Per-unit voltage level of each phase before the time-varying terms. */
  voltageLevel: readonly [number, number, number];
  latent: { theftFraction: number; chronicFault: FaultType };
}

export class FleetSimulator {
  readonly seed: number;
  readonly intervalMs: number;
  readonly tamperRate: number;
  readonly utcOffsetMinutes: number;
  /** Deterministic from the options: same options, same meters in the same order. */
  readonly meters: readonly SimulatedMeter[];
  readonly #seedWords: [number, number];
  readonly #models = new Map<string, MeterModel>();
  readonly #climate: Climate;
  readonly #faults: FaultSchedule;

  constructor(options: FleetOptions) {
    const seed = options.seed;
    if (!Number.isSafeInteger(seed)) {
      throw new SimulatorOptionError('seed must be a safe integer');
    }
    const count = checkCount('meters', options.meters, 1, MAX_METERS);
    const thieves = checkCount('thieves', options.thieves ?? 0, 0, count);
    const tampered = checkCount('tampered', options.tampered ?? 0, 0, count);
    const faulty = checkCount('faulty', options.faulty ?? 0, 0, count);
    if (thieves + tampered + faulty > count) {
      throw new SimulatorOptionError(
        `thieves + tampered + faulty (${thieves + tampered + faulty}) exceed the ${count} meters`,
      );
    }
    const intervalMs = options.intervalMs ?? 15 * MINUTE_MS;
    if (
      !Number.isInteger(intervalMs) ||
      intervalMs < 1_000 ||
      intervalMs > HOUR_MS ||
      DAY_MS % intervalMs !== 0
    ) {
      throw new SimulatorOptionError(
        'intervalMs must be a whole number of ms in 1 s..1 h that divides a day',
      );
    }
    const tamperRate = options.tamperRate ?? 0.02;
    if (!(tamperRate >= 0 && tamperRate <= 1)) {
      throw new SimulatorOptionError('tamperRate must lie in 0..1');
    }
    const utcOffsetMinutes = options.utcOffsetMinutes ?? 0;
    if (!Number.isInteger(utcOffsetMinutes) || utcOffsetMinutes < -720 || utcOffsetMinutes > 840) {
      throw new SimulatorOptionError('utcOffsetMinutes must be a whole number of minutes in -720..840');
    }
    const prefix = options.idPrefix ?? 'meter-';
    const width = max(5, String(count).length);
    if (!ID_PREFIX_RE.test(prefix) || prefix.length + width > MAX_ID_LENGTH) {
      throw new SimulatorOptionError(
        `idPrefix must start with a letter or digit, use only [A-Za-z0-9._:-], and leave room for ${width} digits in ${MAX_ID_LENGTH} characters`,
      );
    }

    this.seed = seed;
    this.intervalMs = intervalMs;
    this.tamperRate = tamperRate;
    this.utcOffsetMinutes = utcOffsetMinutes;
    this.#seedWords = words(seed);
    this.#climate = new Climate(seed);
    this.#faults = new FaultSchedule(seed, intervalMs);

    const models = Array.from({ length: count }, (_, i) =>
      this.#describe(`${prefix}${String(i + 1).padStart(width, '0')}`),
    );
    this.#dealBehaviours(models, { thieves, tampered, faulty });
    for (const model of models) {
      Object.freeze(model.meter);
      this.#models.set(model.meter.meterId, model);
    }
    this.meters = Object.freeze(models.map((m) => m.meter));
  }

  meter(meterId: string): SimulatedMeter {
    return this.#model(meterId).meter;
  }

  /** The slot a timestamp falls in (see the model: one reading per slot). */
  slotOf(timestamp: number): number {
    if (!Number.isFinite(timestamp)) {
      throw new RangeError(`${timestamp} is not a timestamp`);
    }
    return floor(timestamp / this.intervalMs);
  }

  slotStart(slot: number): number {
    return slot * this.intervalMs;
  }

  /** The reading for the interval containing the timestamp: same (options, meter, slot), same reading. */
  reading(meterId: string, timestamp: number): StandardReading {
    return this.#sample(this.#model(meterId), this.slotOf(timestamp)).reading;
  }

  /** What really happened in that interval (for tests and for scoring a receiver's analysis). */
  truth(meterId: string, timestamp: number): MeterTruth {
    return this.#sample(this.#model(meterId), this.slotOf(timestamp)).truth;
  }

  /** The reading and the truth of one interval, computed once. */
  sample(meterId: string, timestamp: number): { reading: StandardReading; truth: MeterTruth } {
    return this.#sample(this.#model(meterId), this.slotOf(timestamp));
  }

  deviceStatus(meterId: string, timestamp: number): DeviceStatus {
    const model = this.#model(meterId);
    return this.#faults.statusAt(model.key, this.slotOf(timestamp), model.meter.chronicFault).status;
  }

  /** False while the meter is in an outage: a real meter sends nothing then, and a caller should skip. */
  isReporting(meterId: string, timestamp: number): boolean {
    return this.deviceStatus(meterId, timestamp).state !== 'outage';
  }

  /** Whether the report of this interval is one to tamper with (tampered meters, ~tamperRate of them). */
  tamperAt(meterId: string, timestamp: number): boolean {
    const model = this.#model(meterId);
    return this.#tampered(model, this.slotOf(timestamp));
  }

  /** The fault episodes of a meter that overlap [from, to) (ms), in time order; none for a healthy meter. */
  faultEpisodes(meterId: string, from: number, to: number): FaultEpisode[] {
    const model = this.#model(meterId);
    const first = this.slotOf(from);
    const end = ceil(to / this.intervalMs);
    return this.#faults
      .episodes(model.key, first, end, model.meter.chronicFault)
      .map((e) => this.#episode(e));
  }

  #model(meterId: string): MeterModel {
    const model = this.#models.get(meterId);
    if (!model) {
      throw new UnknownSimulatedMeterError(`"${meterId}" is not a meter of this fleet`);
    }
    return model;
  }

  /** A meter's fixed traits, from the stream of (seed, meter id) alone. */
  #describe(meterId: string): MeterModel {
    const key = hashString(meterId);
    const rng = new Rng(mixWords(...this.#seedWords, key, STREAM_METER));
    const u = rng.next();
    const kind: MeterKind =
      u < KIND_SHARE.residential
        ? 'residential'
        : u < KIND_SHARE.residential + KIND_SHARE.commercial
          ? 'commercial'
          : 'industrial';
    const profile = KIND_PROFILES[kind];
    // Plants sit in the industrial park or by the harbour; homes and shops anywhere but the park.
    const district =
      kind === 'industrial'
        ? rng.pick(DISTRICTS.filter((d) => d.name === 'industrial-park' || d.name === 'harbor'))
        : rng.pick(DISTRICTS.filter((d) => d.name !== 'industrial-park'));
    const feeder = 1 + rng.int(4);
    const { median, low, high } = profile.meanPowerKw;
    const meanPowerKw = round(clamp(median * exp(0.45 * rng.clippedNormal(3)), low, high), 3);
    const electricHeating = kind === 'residential' && rng.chance(ELECTRIC_HEATING_SHARE);
    const heatingPerC = electricHeating ? ELECTRIC_HEATING_PER_C : profile.heatingPerC;
    // Electric heating pushes the winter peak up, and the contract with it.
    const headroom = profile.contractHeadroom * (electricHeating ? 1.6 : 1);
    const contractedKw = ceil((meanPowerKw * headroom) / profile.contractStepKw) * profile.contractStepKw;
    const powerFactor = round(rng.uniform(...profile.powerFactor), 3);
    const habitShiftH = profile.habitShiftSdH * rng.clippedNormal(3);
    const weight = (): number => rng.uniform(1 - profile.phaseSpread, 1 + profile.phaseSpread);
    const phaseWeights = [weight(), weight(), weight()] as const;
    const position = rng.uniform(-0.02, 0);
    const phaseOffset = (): number => 0.004 * rng.clippedNormal(3);
    const offsets = [phaseOffset(), phaseOffset(), phaseOffset()] as const;
    const prepaidChance = kind === 'residential' ? 0.3 : kind === 'commercial' ? 0.1 : 0;
    const prepaid = rng.chance(prepaidChance);
    const timeOfUse = rng.chance(0.4);
    const tariff: TariffClass =
      kind === 'residential' ? (timeOfUse ? 'residential-time-of-use' : 'residential-flat') : kind;
    const theftFraction = round(rng.uniform(0.2, 0.5), 3);
    const chronicFault = rng.pick(FAULT_TYPES);

    const feederKey = mixWords(hashString(district.name), feeder);
    const feederRng = new Rng(mixWords(...this.#seedWords, feederKey, STREAM_FEEDER));
    // Distribution transformers are tapped a little high, to leave room for the sag along the feeder.
    const tap = feederRng.uniform(-0.005, 0.025);
    const level = (offset: number): number => 1 + tap + position + offset;

    const meter: SimulatedMeter = {
      meterId,
      kind,
      behaviour: 'normal',
      location: `${district.name}/feeder-${feeder}`,
      district: district.name,
      tariff,
      prepaid,
      contractedKw,
      meanPowerKw,
      powerFactor,
      electricHeating,
    };
    return {
      meter,
      // Drawn for every meter so that dealing the behaviours never shifts another draw; attached to
      // the meter only where they apply.
      latent: { theftFraction, chronicFault },
      key,
      profile,
      district,
      feederKey,
      habitShiftH,
      heatingPerC,
      phaseWeights,
      voltageLevel: [level(offsets[0]), level(offsets[1]), level(offsets[2])],
    };
  }

  #dealBehaviours(models: MeterModel[], counts: { thieves: number; tampered: number; faulty: number }): void {
    const rank = new Map(models.map((m) => [m, mixWords(...this.#seedWords, m.key, STREAM_ROLE)]));
    const ranked = [...models].sort((a, b) => (rank.get(a) ?? 0) - (rank.get(b) ?? 0));
    const large = ranked.filter((m) => m.meter.kind !== 'residential');
    const homes = ranked.filter((m) => m.meter.kind === 'residential');
    const thieves = new Set([...large, ...homes].slice(0, counts.thieves));
    const rest = ranked.filter((m) => !thieves.has(m));
    const tampered = rest.slice(0, counts.tampered);
    const faulty = rest.slice(counts.tampered, counts.tampered + counts.faulty);
    for (const model of thieves) {
      model.meter.behaviour = 'thief';
      model.meter.theftFraction = model.latent.theftFraction;
    }
    for (const model of tampered) {
      model.meter.behaviour = 'tampered';
    }
    for (const model of faulty) {
      model.meter.behaviour = 'faulty';
      model.meter.chronicFault = model.latent.chronicFault;
    }
  }

  #tampered(model: MeterModel, slot: number): boolean {
    if (model.meter.behaviour !== 'tampered') {
      return false;
    }
    if (this.#faults.statusAt(model.key, slot, model.meter.chronicFault).status.state === 'outage') {
      return false;
    }
    return new Rng(mixWords(...this.#seedWords, model.key, STREAM_TAMPER, ...words(slot))).chance(
      this.tamperRate,
    );
  }

  #episode(e: ScheduledEpisode): FaultEpisode {
    return {
      type: e.type,
      code: FAULT_CODES[e.type],
      start: this.slotStart(e.startSlot),
      end: this.slotStart(e.endSlot),
      phases: e.phases.map((p) => ({
        state: p.state,
        from: this.slotStart(p.fromSlot),
        to: this.slotStart(p.toSlot),
      })),
    };
  }

  #sample(model: MeterModel, slot: number): { reading: StandardReading; truth: MeterTruth } {
    const { meter, profile } = model;
    const from = this.slotStart(slot);
    // Physics at the slot's midpoint, on the local wall clock.
    const localMs = from + this.intervalMs / 2 + this.utcOffsetMinutes * MINUTE_MS;
    const local = localTime(localMs);
    const { status, episode } = this.#faults.statusAt(model.key, slot, meter.chronicFault);
    const symptomatic = episode !== undefined && (status.state === 'alarm' || status.state === 'emergency');
    const severity = episode?.severity ?? 0;
    const weather = this.#climate.outdoor(model.district, localMs);

    // One stream per (meter, slot). Every draw below happens whatever the branch, in a fixed order,
    // so that changing one branch's outcome never moves another value.
    const rng = new Rng(mixWords(...this.#seedWords, model.key, STREAM_SLOT, ...words(slot)));
    const loadNoise = rng.clippedNormal(3);
    const burstHappens = rng.chance(0.08);
    const burstKw = rng.uniform(1, 3) * rng.uniform(0.1, 0.6);
    const shareJitter = [rng.clippedNormal(3), rng.clippedNormal(3), rng.clippedNormal(3)] as const;
    const pfWobble = rng.clippedNormal(3);
    const phaseNoise = [rng.clippedNormal(3), rng.clippedNormal(3), rng.clippedNormal(3)] as const;
    const meteringNoise = [rng.clippedNormal(3), rng.clippedNormal(3), rng.clippedNormal(3)] as const;
    const temperatureNoise = rng.clippedNormal(3);
    const humidityNoise = rng.clippedNormal(3);
    const theftWobble = rng.clippedNormal(3);
    const feederNoise = new Rng(
      mixWords(...this.#seedWords, model.feederKey, STREAM_FEEDER_SLOT, ...words(slot)),
    ).clippedNormal(3);

    // Power drawn, kW.
    const shape = shapeAt(
      isWeekend(local.weekday) ? profile.weekend : profile.weekday,
      local.hour - model.habitShiftH,
    );
    const climate =
      1 +
      model.heatingPerC * max(0, 15 - weather.dayMeanC) +
      profile.coolingPerC * max(0, weather.temperatureC - 22);
    const sigma = profile.noiseSigma;
    const noise = exp(sigma * loadNoise - (sigma * sigma) / 2);
    const burst = meter.kind === 'residential' && burstHappens ? burstKw : 0;
    const drawnKw = meter.meanPowerKw * shape * climate * noise + burst;
    const hours = this.intervalMs / HOUR_MS;
    const drawnKwh = drawnKw * hours;

    // Phase split and power factor.
    const jittered = (i: 0 | 1 | 2): number =>
      max(0.05, model.phaseWeights[i] * (1 + profile.phaseJitterSd * shareJitter[i]));
    const weights = [jittered(0), jittered(1), jittered(2)] as const;
    const totalWeight = weights[0] + weights[1] + weights[2];
    const powerFactor = clamp(meter.powerFactor + 0.008 * pfWobble, 0.88, 0.99);

    // Voltages and currents, phase by phase.
    const sag = 0.03 * networkLoad(local.hour);
    const phaseRatedW = (meter.contractedKw * 1000) / 3;
    const outage = status.state === 'outage';
    const phase = (i: 0 | 1 | 2): [volts: number, amperes: number] => {
      if (outage) {
        return [0, 0];
      }
      const phasePowerW = (drawnKw * 1000 * weights[i]) / totalWeight;
      let perUnit = model.voltageLevel[i] - sag + 0.004 * feederNoise + 0.003 * phaseNoise[i];
      if (symptomatic && episode.type === 'phase_loss' && episode.phase === i) {
        perUnit *= status.state === 'alarm' ? 1 - (0.04 + 0.04 * severity) : 1 - (0.15 + 0.1 * severity);
      }
      // The service cable's drop grows with the meter's own current on that phase.
      perUnit *= 1 - (0.012 * phasePowerW) / phaseRatedW;
      const volts = NOMINAL_VOLTAGE * perUnit;
      // From the unrounded voltage, so that V·I·pf is the phase's power up to the metering noise.
      const amperes = (phasePowerW / (volts * powerFactor)) * (1 + 0.006 * meteringNoise[i]);
      return [round(volts, 1), round(amperes, 3)];
    };
    const [voltageA, currentA] = phase(0);
    const [voltageB, currentB] = phase(1);
    const [voltageC, currentC] = phase(2);

    // The register: what the reading says.
    const stealing = meter.behaviour === 'thief';
    const registered = stealing
      ? drawnKwh * clamp((meter.theftFraction ?? 1) + 0.02 * theftWobble, 0.15, 0.55)
      : drawnKwh;
    const reportedKwh = outage ? 0 : round(registered, 4);

    // The enclosure's climate.
    const loadShare = min(1.5, drawnKw / meter.contractedKw);
    const warming = profile.selfHeatingC * (0.3 + 0.7 * loadShare);
    let temperature = weather.temperatureC + warming + 0.15 * temperatureNoise;
    let humidity = clamp(weather.humidityPct * exp(-0.06 * warming) + 0.8 * humidityNoise, 5, 100);
    if (symptomatic && episode.type === 'overheating') {
      temperature += status.state === 'alarm' ? 8 + 7 * severity : 20 + 15 * severity;
    }
    if (symptomatic && episode.type === 'moisture') {
      humidity = max(humidity, status.state === 'alarm' ? 86 + 6 * severity : min(100, 95 + 5 * severity));
    }

    const reading: StandardReading = {
      consumption_kwh: reportedKwh,
      voltage_a: voltageA,
      voltage_b: voltageB,
      voltage_c: voltageC,
      current_a: currentA,
      current_b: currentB,
      current_c: currentC,
      temperature_c: round(temperature, 1),
      humidity_pct: round(humidity, 1),
      device_status: formatDeviceStatus(status),
    };
    const truth: MeterTruth = {
      slot,
      from,
      to: from + this.intervalMs,
      status,
      ...(episode ? { faultType: episode.type } : {}),
      reporting: !outage,
      tampered: this.#tampered(model, slot),
      stealing,
      drawnKwh,
      reportedKwh,
      powerFactor,
      outdoorTemperatureC: weather.temperatureC,
      outdoorHumidityPct: weather.humidityPct,
    };
    return { reading, truth };
  }
}

function checkCount(name: string, value: number, lowest: number, highest: number): number {
  if (!Number.isInteger(value) || value < lowest || value > highest) {
    throw new SimulatorOptionError(`${name} must be a whole number in ${lowest}..${highest}`);
  }
  return value;
}

function round(value: number, decimals: number): number {
  const scale = 10 ** decimals;
  return roundToInteger(value * scale) / scale;
}
