// Public API of @app/receivers: the pure analyses of the three receivers of paper section V. The
// processes around them (following the chain, decrypting, BullMQ jobs, tables) live in the app.
export * from './domain/meter-series';
export { normalCdf, normalQuantile, chiSquareQuantile, median } from './domain/statistics';
export * from './domain/control-center/anti-theft';
export * from './domain/control-center/key-user-monitoring';
export * from './domain/control-center/data-recovery';
export * from './domain/equipment-supplier/device-state-machine';
export * from './domain/equipment-supplier/fault-reports';
export * from './domain/equipment-supplier/device-statistics';
export * from './domain/equipment-supplier/failure-prediction';
