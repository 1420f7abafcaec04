import path from 'node:path';

import { defineConfig } from 'prisma/config';

// See prisma/engine/schema-engine-unavailable.js: without this, `prisma generate` tries to download
// the native schema engine and fails on machines that only reach the npm registry.
process.env.PRISMA_SCHEMA_ENGINE_BINARY ??= path.join(
  __dirname,
  'prisma/engine/schema-engine-unavailable.js',
);

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://localhost:5432/cbsg' },
});
