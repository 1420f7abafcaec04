/** Injection token of the control center's ControlCenterConfig. */
export const CONTROL_CENTER_CONFIG = Symbol('ControlCenterConfig');
