import { readFile, writeFile } from 'node:fs/promises';

import { BlsPublicKey, blsVerifyPossession, fromHex } from '@app/crypto';

import { CliError } from './cli-error';

/** Who a key pair is for; the keystore kind follows from it. */
export const HOLDERS = ['organisation', 'delegate', 'meter', 'receiver'] as const;
export type Holder = (typeof HOLDERS)[number];

/**
 * The public half of a key pair, for the organisation that registers it: the id, the public key and
 * the proof that whoever made it holds the secret. A meter's or receiver's secret never leaves its
 * holder; this file is what it hands over (`cbsg keys generate --identity-out`, then
 * `cbsg register ... --identity`).
 */
export interface PublicIdentity {
  format: 'cbsg-identity';
  version: 1;
  holder: Holder;
  id: string;
  /** x*P1, 48-byte compressed G1, lower-case hex. */
  publicKey: string;
  /** BLS proof of possession of x, 96-byte G2, lower-case hex. */
  possession: string;
}

export async function writeIdentityFile(file: string, identity: PublicIdentity): Promise<void> {
  // Public data: readable by whoever the operator hands it to.
  await writeFile(file, `${JSON.stringify(identity, null, 2)}\n`, { mode: 0o644 });
}

/** Reads an identity file and checks it is for `holder`, well formed, and that its proof of possession holds. */
export async function readIdentityFile(file: string, holder: Holder): Promise<PublicIdentity> {
  let value: unknown;
  try {
    value = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    if (error instanceof SyntaxError) {
      throw new CliError(
        `${file} is not JSON (expected an identity file from cbsg keys generate --identity-out)`,
      );
    }
    throw error;
  }
  const identity = value as Partial<PublicIdentity> | null;
  if (identity?.format !== 'cbsg-identity' || identity.version !== 1) {
    throw new CliError(`${file} is not a cbsg identity file (format "cbsg-identity", version 1)`);
  }
  if (identity.holder !== holder) {
    throw new CliError(`${file} is the identity of a ${String(identity.holder)}, not of a ${holder}`);
  }
  if (
    typeof identity.id !== 'string' ||
    typeof identity.publicKey !== 'string' ||
    typeof identity.possession !== 'string'
  ) {
    throw new CliError(`${file} must have the string fields id, publicKey and possession`);
  }
  checkPossession(identity.publicKey, identity.possession, file);
  return identity as PublicIdentity;
}

/** Checks the proof of possession here, so a wrong pair is refused before anything is signed. */
export function checkPossession(publicKeyHex: string, possessionHex: string, source: string): void {
  let holds: boolean;
  try {
    holds = blsVerifyPossession(
      BlsPublicKey.fromBytes(fromHex(publicKeyHex, 'public key', 48)),
      fromHex(possessionHex, 'possession', 96),
    );
  } catch (error) {
    throw new CliError(`${source}: ${(error as Error).message}`);
  }
  if (!holds) {
    throw new CliError(`${source}: the proof of possession does not match the public key`);
  }
}
