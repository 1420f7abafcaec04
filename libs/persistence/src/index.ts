export * from './connection-errors';
export * from './database.module';
export * from './keyset-page';
export * from './migrator';
export * from './repo-root';
export * from './sql';
export * from './schema-drift';
export { PrismaClient } from './generated/prisma/client';
