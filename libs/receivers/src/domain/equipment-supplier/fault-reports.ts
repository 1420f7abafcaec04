import { type DeviceState, type FaultType, faultTypeOfCode, TRANSIENT_ALARM_CODE } from '@app/meter-sdk';

import type { DeviceTimeline } from './device-state-machine';

/**
 * Fault reports (paper V.C): "equipment ID, fault location, fault type, event number, fault time",
 * one per fault event, so that a technician knows where to go and what to bring. A fault event is a
 * device's stay out of the normal state: it starts when the device leaves normal and ends when it is
 * back. The maintenance mode follows the paper: software faults are repaired remotely, hardware
 * faults on site; a short alarm that cleared by itself needs nothing.
 */

/** What the supplier's register knows of a device. */
export interface DeviceInfo {
  deviceId: string;
  /** Where a crew goes ("<district>/feeder-<n>" for the simulated fleet). */
  location: string;
  /** The model or kind the statistics aggregate by. */
  deviceClass: string;
}

export type FaultKind = FaultType | 'transient' | 'unknown';
export type MaintenanceMode = 'remote' | 'on-site' | 'none' | 'inspect';

export interface StateChange {
  at: number;
  state: DeviceState;
  code?: string;
  inferred: boolean;
}

export interface FaultReport {
  deviceId: string;
  location: string;
  deviceClass: string;
  /** Per device, counted from firstEventNumber in time order. */
  eventNumber: number;
  faultType: FaultKind;
  code: string | null;
  /** When the device left normal (the first observation, if it was already in fault then). */
  time: number;
  /** When it was back to normal; null while the event is open. */
  endedAt: number | null;
  worstState: DeviceState;
  states: StateChange[];
  maintenance: MaintenanceMode;
  /** False when the device was already out of normal at its first observation. */
  startObserved: boolean;
}

const SEVERITY: Readonly<Record<DeviceState, number>> = {
  normal: 0,
  alarm: 1,
  repair: 2,
  emergency: 3,
  outage: 4,
};

/** Every change of state in time order: the first state, the transitions, and the impossible jumps. */
export function stateChanges(timeline: DeviceTimeline): StateChange[] {
  const first = timeline.segments[0];
  if (first === undefined) {
    return [];
  }
  const changes: StateChange[] = [
    {
      at: first.from,
      state: first.state,
      ...(first.code === undefined ? {} : { code: first.code }),
      inferred: false,
    },
  ];
  const moves = [
    ...timeline.transitions.map((t) => ({ at: t.at, state: t.to, code: t.code, inferred: t.inferred })),
    // After an impossible jump the device is where it said it was.
    ...timeline.impossible.map((j) => ({ at: j.at, state: j.to, code: undefined, inferred: false })),
  ];
  // Stable: transitions at one instant keep their order (an inferred path is listed in sequence).
  moves.sort((x, y) => x.at - y.at);
  for (const move of moves) {
    const code =
      move.code ?? timeline.segments.find((s) => s.from === move.at && s.state === move.state)?.code;
    changes.push({
      at: move.at,
      state: move.state,
      ...(code === undefined ? {} : { code }),
      inferred: move.inferred,
    });
  }
  return changes;
}

function faultKind(code: string | null): FaultKind {
  if (code === null) {
    return 'unknown';
  }
  if (code === TRANSIENT_ALARM_CODE) {
    return 'transient';
  }
  return faultTypeOfCode(code) ?? 'unknown';
}

function maintenanceFor(kind: FaultKind, worst: DeviceState): MaintenanceMode {
  switch (kind) {
    case 'firmware':
      return 'remote';
    case 'overheating':
    case 'moisture':
    case 'phase_loss':
      return 'on-site';
    case 'transient':
      return worst === 'alarm' ? 'none' : 'inspect';
    case 'unknown':
      return 'inspect';
  }
}

export function faultReports(
  timeline: DeviceTimeline,
  device: DeviceInfo,
  options: { firstEventNumber?: number } = {},
): FaultReport[] {
  const reports: FaultReport[] = [];
  let eventNumber = options.firstEventNumber ?? 1;
  let open: FaultReport | undefined;
  for (const change of stateChanges(timeline)) {
    if (change.state === 'normal') {
      if (open) {
        open.endedAt = change.at;
        open = undefined;
      }
      continue;
    }
    if (open === undefined) {
      open = {
        deviceId: device.deviceId,
        location: device.location,
        deviceClass: device.deviceClass,
        eventNumber: eventNumber++,
        faultType: 'unknown',
        code: null,
        time: change.at,
        endedAt: null,
        worstState: change.state,
        states: [],
        maintenance: 'inspect',
        startObserved: reports.length > 0 || change.at !== timeline.segments[0]?.from,
      };
      reports.push(open);
    }
    open.states.push(change);
    // The cause a fault code names wins over a transient code seen earlier in the same event.
    if (change.code !== undefined && (open.code === null || open.code === TRANSIENT_ALARM_CODE)) {
      open.code = change.code;
    }
    if (SEVERITY[change.state] > SEVERITY[open.worstState]) {
      open.worstState = change.state;
    }
  }
  for (const report of reports) {
    report.faultType = faultKind(report.code);
    report.maintenance = maintenanceFor(report.faultType, report.worstState);
  }
  return reports;
}
