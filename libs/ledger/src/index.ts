export * from './core/block';
export * from './core/finality';
export * from './core/genesis';
export * from './core/merkle';
export * from './core/partial-key-request';
export * from './core/quorum';
export * from './core/schedule';
export * from './core/transaction';
