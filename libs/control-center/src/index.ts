export * from './consortium-setup';
export * from './node-client';
export * from './partial-key.service';
export * from './tokens';
