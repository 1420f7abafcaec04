export * from './event-hash';
export * from './event-store';
