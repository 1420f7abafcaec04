export * from './queue-names';
export * from './queue-registry';
export * from './redis.module';
