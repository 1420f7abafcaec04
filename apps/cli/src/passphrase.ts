import { open } from 'node:fs/promises';

import { type Command, Option } from 'commander';

import { CliError } from './cli-error';

const MIN_PASSPHRASE_LENGTH = 8;

/**
 * Keystore passphrases come from an environment variable named on the command line, never from an
 * argument (arguments show in `ps` and shell history).
 */
export function passphraseFrom(variable: string): string {
  // eslint-disable-next-line no-restricted-properties -- the CLI reads exactly the variable the user named
  const value = process.env[variable];
  if (!value) {
    throw new CliError(
      `set the keystore passphrase in $${variable} (at least ${MIN_PASSPHRASE_LENGTH} characters)`,
    );
  }
  if (value.length < MIN_PASSPHRASE_LENGTH) {
    throw new CliError(`$${variable} must be at least ${MIN_PASSPHRASE_LENGTH} characters`);
  }
  return value;
}

/** The passphrase options as commander parses them (for the current or the new passphrase). */
export interface PassphraseOptions {
  passphraseFile?: string;
  passphraseEnv: string;
  newPassphraseFile?: string;
  newPassphraseEnv?: string;
}

const FLAGS = {
  current: { file: '--passphrase-file', env: '--passphrase-env', variable: 'CBSG_PASSPHRASE' },
  new: { file: '--new-passphrase-file', env: '--new-passphrase-env', variable: 'CBSG_NEW_PASSPHRASE' },
} as const;

/** Adds --passphrase-file and --passphrase-env (or their --new-... twins) to a command. */
export function addPassphraseOptions(command: Command, which: 'current' | 'new' = 'current'): Command {
  const flags = FLAGS[which];
  const what = which === 'new' ? 'the new keystore passphrase' : 'the keystore passphrase';
  return command
    .addOption(
      new Option(
        `${flags.file} <file>`,
        `file holding ${what} (mode 0600; one trailing newline is ignored); wins over ${flags.env}`,
      ),
    )
    .addOption(
      new Option(`${flags.env} <name>`, `environment variable holding ${what}`).default(flags.variable),
    );
}

/** The passphrase the options name: from the file if one is given, else from the environment variable. */
export async function readPassphrase(
  options: PassphraseOptions,
  which: 'current' | 'new' = 'current',
): Promise<string> {
  const file = which === 'new' ? options.newPassphraseFile : options.passphraseFile;
  const variable = which === 'new' ? (options.newPassphraseEnv ?? FLAGS.new.variable) : options.passphraseEnv;
  if (file === undefined) {
    return passphraseFrom(variable);
  }
  const value = (await readSecretFile(file, `${FLAGS[which].file} ${file}`)).replace(/\r?\n$/, '');
  if (value.length < MIN_PASSPHRASE_LENGTH) {
    throw new CliError(
      `${FLAGS[which].file} ${file}: the passphrase must be at least ${MIN_PASSPHRASE_LENGTH} characters`,
    );
  }
  return value;
}

/** Reads a file holding a secret, refusing it (like keystores) when group or others may read it. */
async function readSecretFile(file: string, what: string): Promise<string> {
  const handle = await open(file, 'r');
  try {
    // fstat on the open handle: the file checked is the file read.
    const { mode } = await handle.stat();
    if ((mode & 0o077) !== 0) {
      throw new CliError(
        `${what}: mode 0${(mode & 0o777).toString(8)} lets group or others read it; chmod 600 first`,
      );
    }
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}
