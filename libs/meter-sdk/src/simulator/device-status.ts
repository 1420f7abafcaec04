/**
 * The device states of the paper's Fig. 4 (normal, alarm, emergency, outage, repair), the transitions
 * a device may make between them, and how a state travels in the device_status dimension.
 *
 * device_status is "normal", or "<state>:<code>" where the code names the cause, so that the
 * equipment supplier can file a fault report (device, location, type, time) from the reading alone:
 *
 *   E11 overheating        terminals or electronics run hot (the enclosure temperature climbs)
 *   E21 moisture           water in the enclosure (the relative humidity sits near saturation)
 *   E31 phase_loss         a loose or burnt phase connection (that phase's voltage sags)
 *   E41 firmware           a software fault: no physical symptom, repaired remotely without an outage
 *   W01 (transient)        a short self-clearing alarm (a supply transient, a cover-open blip)
 */

export const DEVICE_STATES = ['normal', 'alarm', 'emergency', 'outage', 'repair'] as const;

export type DeviceState = (typeof DEVICE_STATES)[number];

export const FAULT_TYPES = ['overheating', 'moisture', 'phase_loss', 'firmware'] as const;

export type FaultType = (typeof FAULT_TYPES)[number];

export const FAULT_CODES: Readonly<Record<FaultType, string>> = {
  overheating: 'E11',
  moisture: 'E21',
  phase_loss: 'E31',
  firmware: 'E41',
};

/** The code of a short alarm that clears by itself (any meter, now and then). */
export const TRANSIENT_ALARM_CODE = 'W01';

/**
 * Where each state may go next (Fig. 4). An alarm either clears or escalates; an emergency ends in an
 * outage (hardware: the device trips and a crew must come) or goes straight to repair (firmware: a
 * remote upgrade, the device never stops); an outage is always followed by repair, repair by normal.
 */
export const DEVICE_TRANSITIONS: Readonly<Record<DeviceState, readonly DeviceState[]>> = {
  normal: ['alarm'],
  alarm: ['normal', 'emergency'],
  emergency: ['outage', 'repair'],
  outage: ['repair'],
  repair: ['normal'],
};

/** True when a device reading `from` in one interval may read `to` in the next. */
export function isAllowedTransition(from: DeviceState, to: DeviceState): boolean {
  return from === to || DEVICE_TRANSITIONS[from].includes(to);
}

export interface DeviceStatus {
  state: DeviceState;
  /** The cause (FAULT_CODES or TRANSIENT_ALARM_CODE); absent exactly when the state is normal. */
  code?: string;
}

export function formatDeviceStatus(status: DeviceStatus): string {
  return status.code === undefined ? status.state : `${status.state}:${status.code}`;
}

export class DeviceStatusFormatError extends Error {
  readonly code = 'METER_SDK.BAD_DEVICE_STATUS';
}

const STATUS_RE = /^(normal|alarm|emergency|outage|repair)(?::([A-Z][0-9]{2}))?$/;

/** Reads a device_status value back; a receiver should treat a failure as a malformed report. */
export function parseDeviceStatus(text: string): DeviceStatus {
  const match = STATUS_RE.exec(text);
  const state = match?.[1] as DeviceState | undefined;
  const code = match?.[2];
  if (state === undefined || (state === 'normal') !== (code === undefined)) {
    throw new DeviceStatusFormatError(`"${text}" is not a device status ("normal" or "<state>:<code>")`);
  }
  return code === undefined ? { state } : { state, code };
}

/** The fault type a code names, or undefined for a transient alarm or an unknown code. */
export function faultTypeOfCode(code: string): FaultType | undefined {
  return FAULT_TYPES.find((type) => FAULT_CODES[type] === code);
}
