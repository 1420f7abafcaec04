export * from './meter-identity';
export * from './meter-reporter';
export * from './node-submitter';
export * from './reading-codec';
export * from './receiver-keys';
export * from './simulator';
