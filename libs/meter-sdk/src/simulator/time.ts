/** Calendar arithmetic on plain milliseconds: the model never reads the clock, time is a parameter. */

// Bound once, as in prng.ts: global lookups are slow inside jest's vm context.
const { floor } = Math;

export const MINUTE_MS = 60_000;
export const HOUR_MS = 60 * MINUTE_MS;
export const DAY_MS = 24 * HOUR_MS;

export interface LocalTime {
  /** Whole days since 1970-01-01 (local). */
  day: number;
  /** Hour of the local day, fractional, in [0, 24). */
  hour: number;
  /** 0 = Sunday ... 6 = Saturday. */
  weekday: number;
}

/** Wall-clock fields of a local time given as ms since the epoch already shifted by the UTC offset. */
export function localTime(localMs: number): LocalTime {
  const day = floor(localMs / DAY_MS);
  const hour = (localMs - day * DAY_MS) / HOUR_MS;
  // 1970-01-01 was a Thursday.
  const weekday = (((day + 4) % 7) + 7) % 7;
  return { day, hour, weekday };
}

export function isWeekend(weekday: number): boolean {
  return weekday === 0 || weekday === 6;
}
