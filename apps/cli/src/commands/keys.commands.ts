import { access, stat } from 'node:fs/promises';
import path from 'node:path';

import { Argument, type Command } from 'commander';

import {
  blsProvePossession,
  generateKeyPair,
  initCrypto,
  keyFingerprint,
  type KeystoreKind,
  toHex,
  writeKeystoreFile,
} from '@app/crypto';

import { CliError } from '../cli-error';
import { type Holder, HOLDERS, writeIdentityFile } from '../identity-file';
import { describeKeystoreAt, openKeystoreAt } from '../keystores';
import { addPassphraseOptions, type PassphraseOptions, readPassphrase } from '../passphrase';

/** Organisations and delegates sign with plain BLS keys; meters and receivers keep theirs for the CBSG scheme. */
const KEYSTORE_KIND: Record<Holder, KeystoreKind> = {
  organisation: 'bls',
  delegate: 'bls',
  meter: 'meter',
  receiver: 'receiver',
};

const IDENTIFIER = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** keys generate: a new key pair, sealed in a keystore. */
export function registerKeys(program: Command): void {
  const keys = program
    .command('keys')
    .description('Make key pairs for organisations, delegates, meters and receivers.');
  addPassphraseOptions(
    keys
      .command('generate')
      .description(
        'Draw a new key pair, seal its secret in a keystore file (mode 0600) and print its public key, fingerprint and proof of possession. The secret is never printed.',
      )
      .addArgument(new Argument('<holder>', 'who the key is for').choices(HOLDERS))
      .argument('<id>', 'the identity of the holder (letters, digits, . _ : -)')
      .requiredOption('--out <file>', 'the keystore file to write')
      .option(
        '--identity-out <file>',
        'also write the public identity (id, public key, proof of possession) that `cbsg register` takes with --identity',
      )
      .option('--force', 'replace an existing keystore file (its key is lost) or identity file'),
  ).action(async (holder: Holder, id: string, options: PassphraseOptions & GenerateOptions) => {
    if (!IDENTIFIER.test(id)) {
      throw new CliError(`<id> "${id}" must be an identifier: letters, digits, . _ : - (at most 128)`);
    }
    if (!options.force && (await exists(options.out))) {
      throw new CliError(`${options.out} exists already; use --force to replace it (its key is lost)`);
    }
    // Checked before anything is written: the identity file must not land on a keystore (this one,
    // or another one's only copy) through a slip of the keyboard.
    if (options.identityOut !== undefined) {
      if (path.resolve(options.identityOut) === path.resolve(options.out)) {
        throw new CliError('--identity-out must not be the keystore file (--out)');
      }
      if (!options.force && (await exists(options.identityOut))) {
        throw new CliError(`${options.identityOut} exists already; use --force to replace it`);
      }
    }
    const passphrase = await readPassphrase(options);
    await initCrypto();
    // Every holder's key is a random x with public key x*P1, BLS signer or CBSG meter alike.
    const pair = generateKeyPair();
    await writeKeystoreFile(
      options.out,
      { kind: KEYSTORE_KIND[holder], id, publicKey: pair.publicKey, key: pair.secret },
      passphrase,
    );
    const possession = toHex(blsProvePossession(pair.secret));
    if (options.identityOut !== undefined) {
      await writeIdentityFile(options.identityOut, {
        format: 'cbsg-identity',
        version: 1,
        holder,
        id,
        publicKey: toHex(pair.publicKey),
        possession,
      });
    }
    process.stdout.write(
      [
        `${holder} ${id}: keystore written to ${options.out} (mode 0600)`,
        `  public key   ${toHex(pair.publicKey)}`,
        `  fingerprint  ${toHex(keyFingerprint(pair.publicKey))}`,
        `  possession   ${possession}`,
        ...(options.identityOut === undefined ? [] : [`  identity     ${options.identityOut}`]),
        '',
      ].join('\n'),
    );
  });
}

interface GenerateOptions {
  out: string;
  identityOut?: string;
  force?: boolean;
}

/** keystore inspect | change-passphrase. */
export function registerKeystore(program: Command): void {
  const keystore = program
    .command('keystore')
    .description('Look into keystore files and change their passphrase.');
  keystore
    .command('inspect')
    .description(
      'Show what a keystore holds without opening it: kind, identity, public key, fingerprint, scrypt cost. Needs no passphrase and never shows a secret.',
    )
    .argument('<file>', 'the keystore file')
    .option('--json', 'print one JSON object instead of text')
    .action(async (file: string, options: { json?: boolean }) => {
      await initCrypto();
      const summary = await describeKeystoreAt(file);
      const { mode } = await stat(file);
      // The first 48 bytes are key*P1 for every kind (for cc-master, Ypub1 of the system parameters).
      const fingerprint = toHex(keyFingerprint(summary.publicKey.subarray(0, 48)));
      const view = {
        file,
        mode: `0${(mode & 0o777).toString(8)}`,
        kind: summary.kind,
        id: summary.id,
        publicKey: toHex(summary.publicKey),
        fingerprint,
        scrypt: summary.scrypt,
      };
      if (options.json) {
        process.stdout.write(`${JSON.stringify(view)}\n`);
        return;
      }
      process.stdout.write(
        [
          `${file} (mode ${view.mode})`,
          `  kind         ${view.kind}`,
          `  id           ${view.id}`,
          `  public key   ${view.publicKey}${summary.kind === 'cc-master' ? ' (Ypub1 || Ypub2)' : ''}`,
          `  fingerprint  ${fingerprint}`,
          `  scrypt       N=${summary.scrypt.N} r=${summary.scrypt.r} p=${summary.scrypt.p}`,
          '',
        ].join('\n'),
      );
    });
  addPassphraseOptions(
    addPassphraseOptions(
      keystore
        .command('change-passphrase')
        .description(
          'Open a keystore with its passphrase and seal it again under a new one, in place (written to a temporary file, then renamed: a crash leaves the old file). The scrypt cost stays as it was.',
        )
        .argument('<file>', 'the keystore file'),
      'current',
    ),
    'new',
  ).action(async (file: string, options: PassphraseOptions) => {
    const summary = await describeKeystoreAt(file);
    const current = await readPassphrase(options);
    const next = await readPassphrase(options, 'new');
    if (next === current) {
      throw new CliError('the new passphrase is the same as the current one');
    }
    await initCrypto();
    const entry = await openKeystoreAt(file, current);
    await writeKeystoreFile(file, entry, next, { scrypt: summary.scrypt });
    process.stdout.write(`${file}: passphrase changed (${entry.kind} ${entry.id})\n`);
  });
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}
