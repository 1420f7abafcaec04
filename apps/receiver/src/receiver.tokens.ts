import { BadRequestException } from '@nestjs/common';

import type { ChainMembers } from '@app/auth';
import { type BlsPublicKey, type CryptoPool, type PoolReceiver, type SecretScalar } from '@app/crypto';

export const RECEIVER_CONFIG = Symbol('RECEIVER_CONFIG');
export const RECEIVER_DB = Symbol('RECEIVER_DB');

/** What the bootstrap has opened before the module starts: the key in the worker pool, the chain's start. */
export interface ReceiverRuntime {
  crypto: CryptoPool;
  receiver: PoolReceiver;
  genesisHash: Uint8Array;
  chainId: string;
  /** Who belongs to the chain (to check who calls the receiver's API). */
  members: ChainMembers;
  /** The nodes' genesis keys by node id: they sign the head digests the receiver keeps. */
  nodeKeys: ReadonlyMap<string, BlsPublicKey>;
  /** The organisation's signing key (contract results, publications). */
  organisationKey: SecretScalar;
  /** An Authorization header for the node, as the organisation (renewed as it runs out). */
  nodeAuthorization: () => string;
}
export const RECEIVER_RUNTIME = Symbol('RECEIVER_RUNTIME');

/** A whole-number query parameter from 1 to `max`; a bad one is a 400 that names the parameter. */
export function limitParam(value: string | undefined, fallback: number, max: number, name = 'limit'): number {
  if (value === undefined) {
    return fallback;
  }
  if (!/^\d{1,5}$/.test(value) || Number(value) < 1 || Number(value) > max) {
    throw new BadRequestException(`${name} must be an integer from 1 to ${max}`);
  }
  return Number(value);
}
