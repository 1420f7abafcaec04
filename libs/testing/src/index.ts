export * from './free-port';
export * from './test-database';
export * from './test-database-names';
export * from './throwaway-redis';
export * from './throwaway-postgres';
