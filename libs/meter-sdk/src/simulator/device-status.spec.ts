import {
  DEVICE_STATES,
  DeviceStatusFormatError,
  faultTypeOfCode,
  formatDeviceStatus,
  isAllowedTransition,
  parseDeviceStatus,
} from './device-status';

describe('device status', () => {
  it('given each state with and without a code, when formatted and parsed back, should round-trip', () => {
    expect(formatDeviceStatus({ state: 'normal' })).toBe('normal');
    expect(formatDeviceStatus({ state: 'outage', code: 'E31' })).toBe('outage:E31');
    for (const state of DEVICE_STATES.filter((s) => s !== 'normal')) {
      expect(parseDeviceStatus(`${state}:E11`)).toEqual({ state, code: 'E11' });
    }
    expect(parseDeviceStatus('normal')).toEqual({ state: 'normal' });
  });

  it.each(['normal:E11', 'alarm', 'alarm:', 'alarm:e11', 'broken:E11', 'Normal', ''])(
    'given the malformed status "%s", when parsed, should be refused',
    (text) => {
      expect(() => parseDeviceStatus(text)).toThrow(DeviceStatusFormatError);
    },
  );

  it('given the states of Fig. 4, when asked about transitions, should allow only escalation, clearing, and the repair path', () => {
    expect(isAllowedTransition('normal', 'alarm')).toBe(true);
    expect(isAllowedTransition('alarm', 'normal')).toBe(true);
    expect(isAllowedTransition('alarm', 'emergency')).toBe(true);
    expect(isAllowedTransition('emergency', 'outage')).toBe(true);
    expect(isAllowedTransition('emergency', 'repair')).toBe(true);
    expect(isAllowedTransition('outage', 'repair')).toBe(true);
    expect(isAllowedTransition('repair', 'normal')).toBe(true);
    expect(isAllowedTransition('outage', 'outage')).toBe(true);

    expect(isAllowedTransition('normal', 'outage')).toBe(false);
    expect(isAllowedTransition('normal', 'emergency')).toBe(false);
    expect(isAllowedTransition('outage', 'normal')).toBe(false);
    expect(isAllowedTransition('repair', 'alarm')).toBe(false);
    expect(isAllowedTransition('emergency', 'normal')).toBe(false);
  });

  it('given a code, when its fault type is asked, should name it, and nothing for a transient alarm', () => {
    expect(faultTypeOfCode('E31')).toBe('phase_loss');
    expect(faultTypeOfCode('W01')).toBeUndefined();
  });
});
