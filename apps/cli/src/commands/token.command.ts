import { Option, type Command } from 'commander';

import { issueIdentityToken, MAX_TOKEN_LIFETIME_MS } from '@app/auth';
import { NodeClient } from '@app/control-center';
import { initCrypto } from '@app/crypto';

import { CliError } from '../cli-error';
import { openKeystoreAt } from '../keystores';
import { addPassphraseOptions, type PassphraseOptions, readPassphrase } from '../passphrase';

const DEFAULT_NODE_URL = 'http://127.0.0.1:3000';

interface TokenOptions extends PassphraseOptions {
  keystore: string;
  node: string;
  minutes: string;
}

/** `cbsg token`: an organisation's bearer token for the REST and GraphQL APIs (docs/access.md). */
export function registerToken(program: Command): void {
  addPassphraseOptions(
    program
      .command('token')
      .description(
        "Print a token for your organisation (its genesis key signs it) to call the node's and your receiver's APIs: Authorization: Bearer <token>.",
      )
      .requiredOption('--keystore <file>', "your organisation's keystore")
      .addOption(
        new Option('--node <url>', "a node of the chain (for the chain's id)")
          .env('CBSG_NODE_URL')
          .default(DEFAULT_NODE_URL),
      )
      .option('--minutes <n>', `how long it lives (at most ${MAX_TOKEN_LIFETIME_MS / 60_000})`, '15'),
  ).action(async (options: TokenOptions) => {
    const minutes = Number(options.minutes);
    if (!Number.isInteger(minutes) || minutes < 1 || minutes * 60_000 > MAX_TOKEN_LIFETIME_MS) {
      throw new CliError(`--minutes must be a whole number from 1 to ${MAX_TOKEN_LIFETIME_MS / 60_000}`);
    }
    const passphrase = await readPassphrase(options);
    await initCrypto();
    const organisation = await openKeystoreAt(options.keystore, passphrase);
    if (organisation.kind !== 'bls') {
      throw new CliError(
        `${options.keystore} holds the ${organisation.kind} key of ${organisation.id}, not an organisation's`,
      );
    }
    const { chainId } = await new NodeClient(options.node).genesis().catch((error: unknown) => {
      throw new CliError((error as Error).message);
    });
    const token = issueIdentityToken(
      organisation.key,
      chainId,
      { kind: 'organisation', id: organisation.id },
      Date.now(),
      minutes * 60_000,
    );
    process.stdout.write(`${token}\n`);
  });
}
