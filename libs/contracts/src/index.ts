// Public API of @app/contracts: contracts as data (DESIGN.md section 5), validated at load and
// evaluated deterministically. Delivery of the actions belongs to the receiver app.
export * from './domain/contract.errors';
export * from './domain/contract.schema';
export * from './domain/contract-compiler';
export * from './domain/builtin-contracts';
export * from './domain/contract-benchmark';
