export { type District, DISTRICTS } from './climate';
export * from './device-status';
export * from './dimensions';
export * from './fleet-simulator';
export { METER_KINDS, type MeterKind } from './load-profiles';
