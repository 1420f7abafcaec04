/**
 * Keystore passphrases come from an environment variable named on the command line, never from an
 * argument (arguments show in `ps` and shell history).
 */
export function passphraseFrom(variable: string): string {
  // eslint-disable-next-line no-restricted-properties -- the CLI reads exactly the variable the user named
  const value = process.env[variable];
  if (!value) {
    throw new Error(`set the keystore passphrase in $${variable} (at least 8 characters)`);
  }
  if (value.length < 8) {
    throw new Error(`$${variable} must be at least 8 characters`);
  }
  return value;
}
