import { type Command, Option } from 'commander';
import { Pool } from 'pg';

import { AdminKeyRepository } from '@app/auth';

import { CliError } from '../cli-error';

interface DatabaseOption {
  databaseUrl?: string;
}

/** Runs `work` on the node's database (--database-url, or $DATABASE_URL), closing it after. */
async function onNodeDatabase<T>(
  options: DatabaseOption,
  work: (keys: AdminKeyRepository) => Promise<T>,
): Promise<T> {
  const url = options.databaseUrl;
  if (!url || !/^postgres(ql)?:\/\//.test(url)) {
    throw new CliError("--database-url (or $DATABASE_URL) must be the node's postgresql:// database");
  }
  const pool = new Pool({ connectionString: url, max: 1, connectionTimeoutMillis: 5_000 });
  try {
    return await work(new AdminKeyRepository(pool));
  } catch (error) {
    if (error instanceof CliError || error instanceof RangeError) {
      throw new CliError(error.message);
    }
    const message = (error as Error).message;
    throw new CliError(
      /admin_api_keys/.test(message)
        ? `the database has no admin_api_keys table: migrate it first (npm run db:migrate)`
        : `the node's database: ${message}`,
    );
  } finally {
    await pool.end();
  }
}

export function registerAdminKey(program: Command): void {
  const adminKey = program
    .command('admin-key')
    .description(
      "Admin API keys of a node (for the console and the admin endpoints): the node keeps only each key's SHA-256, so a key is shown once, when it is made.",
    );
  const database = (command: Command) =>
    command.addOption(
      new Option('--database-url <url>', "the node's PostgreSQL database").env('DATABASE_URL'),
    );

  database(
    adminKey
      .command('create')
      .description('Make a new admin key and print it (once).')
      .requiredOption('--name <name>', 'who or what the key is for (printable ASCII, up to 100 characters)'),
  ).action(async (options: DatabaseOption & { name: string }) => {
    const { id, key } = await onNodeDatabase(options, (keys) => keys.create(options.name));
    process.stdout.write(`${key}\n`);
    process.stderr.write(`admin key ${id} (${options.name}) made; it is not shown again\n`);
  });

  database(
    adminKey.command('list').description('List the admin keys: id, name, made, revoked (never the keys).'),
  )
    .option('--json', 'one JSON array')
    .action(async (options: DatabaseOption & { json?: boolean }) => {
      const keys = await onNodeDatabase(options, (repository) => repository.list());
      if (options.json) {
        process.stdout.write(`${JSON.stringify(keys)}\n`);
        return;
      }
      for (const k of keys) {
        process.stdout.write(
          `${k.id}  ${k.createdAt.toISOString()}  ${k.revokedAt ? `revoked ${k.revokedAt.toISOString()}` : 'active'}  ${k.name}\n`,
        );
      }
    });

  database(
    adminKey
      .command('revoke')
      .description('Revoke an admin key: it is refused from then on.')
      .argument('<id>', 'the key id (12 hex digits)'),
  ).action(async (id: string, options: DatabaseOption) => {
    if (!/^[0-9a-f]{12}$/.test(id)) {
      throw new CliError(`"${id}" is not an admin key id (12 hex digits)`);
    }
    const revoked = await onNodeDatabase(options, (keys) => keys.revoke(id));
    if (!revoked) {
      throw new CliError(`no active admin key ${id}`);
    }
    process.stdout.write(`admin key ${id} revoked\n`);
  });
}
