export * from './core/genesis';
export * from './core/merkle';
export * from './core/transaction';
export * from './core/partial-key-request';
