export * from './canonical-json';
export * from './clock';
export * from './domain-error';
export * from './domain-event';
