import {
  describeKeystoreFile,
  KeystoreMalformedError,
  KeystoreWrongPassphraseError,
  type KeystoreEntry,
  type KeystoreSummary,
  readKeystoreFile,
} from '@app/crypto';

import { CliError } from './cli-error';

/**
 * The CLI's one way into keystore files: @app/crypto refuses files that group or others can read
 * (KeystorePermissionsError names the file and the chmod); here the other refusals get the file's name.
 */
export async function openKeystoreAt(file: string, passphrase: string): Promise<KeystoreEntry> {
  return named(file, () => readKeystoreFile(file, passphrase));
}

export async function describeKeystoreAt(file: string): Promise<KeystoreSummary> {
  return named(file, () => describeKeystoreFile(file));
}

async function named<T>(file: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof KeystoreWrongPassphraseError) {
      throw new CliError(`${file}: wrong passphrase (or the file was altered)`);
    }
    if (error instanceof KeystoreMalformedError) {
      throw new CliError(`${file} is not a valid keystore (${error.message})`);
    }
    throw error;
  }
}
