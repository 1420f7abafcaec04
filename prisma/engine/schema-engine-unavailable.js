#!/usr/bin/env node
// Prisma 7's CLI asks for its native schema engine, which it downloads from Prisma's servers. This
// machine cannot reach them, and `prisma generate` needs only the engine's version. Everything the
// native engine would do for us (applying migrations) is done by scripts/migrate.ts instead.
if (process.argv.includes('--version')) {
  process.stdout.write('schema-engine-cli 0.0.0 (cbsg: native engine not installed)\n');
  process.exit(0);
}
process.stderr.write(
  'The Prisma schema engine is not installed here. Apply migrations with `npm run db:migrate` ' +
    '(scripts/migrate.ts); write new migrations by hand under prisma/migrations/.\n',
);
process.exit(1);
