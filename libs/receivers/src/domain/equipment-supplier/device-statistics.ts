import { DEVICE_STATES, type DeviceState } from '@app/meter-sdk';

import { DAY_MS } from '../meter-series';
import { round } from '../statistics';
import type { DeviceTimeline } from './device-state-machine';
import { type DeviceInfo, faultReports, stateChanges } from './fault-reports';

/**
 * Statistics per device and per device class (paper V.C: "alarm conditions, outage frequency,
 * outage time, and failure percentage for each device"). Time counts from the statuses: each report
 * covers its interval, and a silence inferred as an outage counts as outage time; other silences
 * count for nothing (they are unobserved, neither healthy nor failed).
 */

const MONTH_MS = 30 * DAY_MS;
const YEAR_MS = 365 * DAY_MS;

export interface DeviceStatistics {
  deviceId: string;
  deviceClass: string;
  location: string;
  /** Time with a known state (reported, or an inferred outage), ms. */
  observedMs: number;
  unobservedMs: number;
  timeInStateMs: Record<DeviceState, number>;
  /** Entries into each state. */
  alarmCount: number;
  emergencyCount: number;
  outageCount: number;
  repairCount: number;
  outageMs: number;
  /** Outages per 30 days of observed time. */
  outagesPer30Days: number;
  /** Share of the observed time spent out of normal (alarm, emergency, outage, repair). */
  failureShare: number;
  faultEvents: number;
  /** Fault events that went past an alarm (emergency or worse): what the failure prediction counts. */
  failures: number;
  /** Time in normal: the exposure during which a failure can start, ms. */
  exposureMs: number;
  impossibleTransitions: number;
  malformedStatuses: number;
}

export interface DeviceClassStatistics {
  deviceClass: string;
  devices: number;
  observedMs: number;
  alarmCount: number;
  alarmsPerDevice: number;
  outageCount: number;
  outageMs: number;
  outagesPer30DaysPerDevice: number;
  /** Time-weighted over the class: out-of-normal time / observed time. */
  failureShare: number;
  failures: number;
  failuresPerDeviceYear: number;
}

export function deviceStatistics(timeline: DeviceTimeline, device: DeviceInfo): DeviceStatistics {
  const timeInStateMs = Object.fromEntries(DEVICE_STATES.map((s) => [s, 0])) as Record<DeviceState, number>;
  for (const segment of timeline.segments) {
    timeInStateMs[segment.state] += segment.to - segment.from;
  }
  const entries = Object.fromEntries(DEVICE_STATES.map((s) => [s, 0])) as Record<DeviceState, number>;
  for (const change of stateChanges(timeline)) {
    entries[change.state] += 1;
  }
  const observedMs = DEVICE_STATES.reduce((sum, s) => sum + timeInStateMs[s], 0);
  const events = faultReports(timeline, device);
  return {
    deviceId: device.deviceId,
    deviceClass: device.deviceClass,
    location: device.location,
    observedMs,
    unobservedMs: timeline.unobserved.reduce((sum, u) => sum + (u.to - u.from), 0),
    timeInStateMs,
    alarmCount: entries.alarm,
    emergencyCount: entries.emergency,
    outageCount: entries.outage,
    repairCount: entries.repair,
    outageMs: timeInStateMs.outage,
    outagesPer30Days: observedMs > 0 ? round((entries.outage * MONTH_MS) / observedMs, 4) : 0,
    failureShare: observedMs > 0 ? round(1 - timeInStateMs.normal / observedMs, 6) : 0,
    faultEvents: events.length,
    failures: events.filter((e) => e.worstState === 'emergency' || e.worstState === 'outage').length,
    exposureMs: timeInStateMs.normal,
    impossibleTransitions: timeline.impossible.length,
    malformedStatuses: timeline.malformed.length,
  };
}

/** Aggregates per device class, classes in name order. */
export function classStatistics(devices: readonly DeviceStatistics[]): DeviceClassStatistics[] {
  const byClass = new Map<string, DeviceStatistics[]>();
  for (const device of devices) {
    byClass.set(device.deviceClass, [...(byClass.get(device.deviceClass) ?? []), device]);
  }
  return [...byClass.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([deviceClass, members]) => {
      const sum = (pick: (d: DeviceStatistics) => number): number => members.reduce((s, d) => s + pick(d), 0);
      const observedMs = sum((d) => d.observedMs);
      const normalMs = sum((d) => d.timeInStateMs.normal);
      const outageCount = sum((d) => d.outageCount);
      const failures = sum((d) => d.failures);
      const alarmCount = sum((d) => d.alarmCount);
      return {
        deviceClass,
        devices: members.length,
        observedMs,
        alarmCount,
        alarmsPerDevice: round(alarmCount / members.length, 4),
        outageCount,
        outageMs: sum((d) => d.outageMs),
        outagesPer30DaysPerDevice: observedMs > 0 ? round((outageCount * MONTH_MS) / observedMs, 4) : 0,
        failureShare: observedMs > 0 ? round(1 - normalMs / observedMs, 6) : 0,
        failures,
        failuresPerDeviceYear: observedMs > 0 ? round((failures * YEAR_MS) / observedMs, 4) : 0,
      };
    });
}
