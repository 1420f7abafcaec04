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
  /**
   * The consortium's entry window (the genesis' block rules): no block holds a transaction older
   * than the block by more (SentTransactions).
   */
  entryWindowMs: number;
  /** The organisation's signing key (contract results, publications). */
  organisationKey: SecretScalar;
  /** An Authorization header for the node, as the organisation (renewed as it runs out). */
  nodeAuthorization: () => string;
}
export const RECEIVER_RUNTIME = Symbol('RECEIVER_RUNTIME');

const METER_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/**
 * A meter id from a path or a query; anything else (a list, a control character: Postgres text holds
 * no NUL) is a 400 that names the parameter, before it reaches SQL.
 */
export function meterIdParam(value: unknown, name = 'meterId'): string {
  if (typeof value !== 'string' || !METER_ID.test(value)) {
    throw new BadRequestException(`${name} is not a meter id`);
  }
  return value;
}

/** As meterIdParam, for an optional query parameter. */
export function optionalMeterIdParam(value: unknown, name: string): string | undefined {
  return value === undefined ? undefined : meterIdParam(value, name);
}

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
