import { hashString, mixWords, Rng, words } from './prng';
import { DAY_MS } from './time';

// Bound once, as in prng.ts: global lookups are slow inside jest's vm context.
const { cos, floor, max, min, PI } = Math;

/**
 * Outdoor weather per district: a seasonal cycle, a daily cycle and a day-to-day weather anomaly shared
 * by every meter of the district (neighbours see the same cold snap). Northern temperate climate:
 * coldest mid-January, warmest mid-July, coldest hour about 03:00 local, warmest about 15:00.
 */

export interface District {
  name: string;
  /** Annual mean air temperature, °C. */
  meanC: number;
  /** Half the difference between the July and January means, °C. */
  seasonalAmplitudeC: number;
  /** Half the mean difference between the afternoon maximum and the night minimum, °C. */
  dailyAmplitudeC: number;
  /** Annual mean relative humidity, %. */
  humidityPct: number;
}

export const DISTRICTS: readonly District[] = [
  { name: 'harbor', meanC: 12, seasonalAmplitudeC: 8, dailyAmplitudeC: 3.5, humidityPct: 80 },
  { name: 'old-town', meanC: 11.5, seasonalAmplitudeC: 9.5, dailyAmplitudeC: 4.5, humidityPct: 72 },
  { name: 'hills', meanC: 8.5, seasonalAmplitudeC: 10.5, dailyAmplitudeC: 5.5, humidityPct: 74 },
  { name: 'riverside', meanC: 11, seasonalAmplitudeC: 10, dailyAmplitudeC: 4.5, humidityPct: 82 },
  { name: 'industrial-park', meanC: 12, seasonalAmplitudeC: 10, dailyAmplitudeC: 5, humidityPct: 66 },
  { name: 'south-valley', meanC: 14.5, seasonalAmplitudeC: 11, dailyAmplitudeC: 6.5, humidityPct: 60 },
];

const YEAR_DAYS = 365.2425;
/** Day of the year (from 1 January) with the coldest seasonal mean. */
const COLDEST_DAY = 15.5;
const WARMEST_HOUR = 15;
/** Day-to-day spread of the weather around the seasonal mean: °C and % relative humidity. */
const TEMPERATURE_ANOMALY_SD_C = 2.5;
const HUMIDITY_ANOMALY_SD_PCT = 6;
const STREAM_WEATHER = 0x57544852;

export interface OutdoorWeather {
  /** Air temperature now, °C. */
  temperatureC: number;
  /** The day's mean temperature around now (no daily cycle), °C: what heating demand follows. */
  dayMeanC: number;
  /** Relative humidity now, %. */
  humidityPct: number;
}

export class Climate {
  readonly #seed: [number, number];
  readonly #districtKeys = new Map<string, number>();

  constructor(seed: number) {
    this.#seed = words(seed);
  }

  /** The weather of a district at a local time (ms since the epoch, shifted to local wall-clock time). */
  outdoor(district: District, localMs: number): OutdoorWeather {
    const days = localMs / DAY_MS;
    const day = floor(days);
    const hour = (days - day) * 24;
    const season = cos((2 * PI * (positiveModulo(days, YEAR_DAYS) - COLDEST_DAY)) / YEAR_DAYS);
    const daily = cos((2 * PI * (hour - WARMEST_HOUR)) / 24);
    const key = this.#districtKey(district.name);
    // Value noise: a random knot at each local midnight, eased in between, so the weather drifts
    // smoothly across the day instead of jumping at midnight.
    const [t0, h0] = this.#knot(key, day);
    const [t1, h1] = this.#knot(key, day + 1);
    const f = smoothstep(days - day);
    const temperatureAnomaly = TEMPERATURE_ANOMALY_SD_C * (t0 + (t1 - t0) * f);
    const humidityAnomaly = HUMIDITY_ANOMALY_SD_PCT * (h0 + (h1 - h0) * f);
    const dayMeanC = district.meanC - district.seasonalAmplitudeC * season + temperatureAnomaly;
    const temperatureC = dayMeanC + district.dailyAmplitudeC * daily;
    // Relative humidity: damper in winter and at night (cooler air holds less water), lower on a warm
    // spell; 2.2 %/°C of daily swing is what a humid temperate site shows.
    const humidityPct = clamp(
      district.humidityPct +
        6 * season -
        2.2 * district.dailyAmplitudeC * daily -
        temperatureAnomaly +
        humidityAnomaly,
      12,
      100,
    );
    return { temperatureC, dayMeanC, humidityPct };
  }

  #districtKey(name: string): number {
    let key = this.#districtKeys.get(name);
    if (key === undefined) {
      key = hashString(name);
      this.#districtKeys.set(name, key);
    }
    return key;
  }

  #knot(districtKey: number, day: number): [temperature: number, humidity: number] {
    const rng = new Rng(mixWords(...this.#seed, districtKey, STREAM_WEATHER, ...words(day)));
    return [rng.clippedNormal(3), rng.clippedNormal(3)];
  }
}

export function clamp(value: number, low: number, high: number): number {
  return min(high, max(low, value));
}

function smoothstep(x: number): number {
  return x * x * (3 - 2 * x);
}

function positiveModulo(value: number, modulus: number): number {
  return ((value % modulus) + modulus) % modulus;
}
