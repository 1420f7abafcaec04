import { BadRequestException } from '@nestjs/common';

import { type CryptoPool, type PoolReceiver, type SecretScalar } from '@app/crypto';

export const RECEIVER_CONFIG = Symbol('RECEIVER_CONFIG');
export const RECEIVER_DB = Symbol('RECEIVER_DB');

/** What the bootstrap has opened before the module starts: the key in the worker pool, the chain's start. */
export interface ReceiverRuntime {
  crypto: CryptoPool;
  receiver: PoolReceiver;
  genesisHash: Uint8Array;
  chainId: string;
  /** The organisation's signing key, when one is configured (contract results, publications). */
  organisationKey?: SecretScalar;
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
