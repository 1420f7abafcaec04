import {
  type EpochPolicy,
  type MeterPrivateKey,
  MeterSigncrypter,
  type Report,
  type SharingPolicy,
  type SystemParams,
} from '@app/crypto';

import { encodeReading, type ReadingValues } from './reading-codec';
import { receiverKeyFor } from './receiver-keys';

export interface MeterRegistration {
  meterId: string;
  /** The v dimensions of every reading, in order (as registered). */
  dimensions: readonly string[];
  /** Which dimensions each receiver gets (as registered). */
  policy: ReadonlyArray<{ receiver: string; dimensions: readonly string[] }>;
  epoch: EpochPolicy;
}

/** A receiver's public key as the node lists it (GET /receivers). */
export interface ReceiverListing {
  id: string;
  publicKey: string;
  status: string;
}

/**
 * Turns readings into signed, signcrypted reports for the meter's registered sharing policy: each
 * receiver's share holds exactly its dimensions, encrypted to its key. The nonce counter must be
 * persisted by the caller (nextNonce) so that a restarted meter never reuses one.
 */
export class MeterReporter {
  private constructor(
    readonly registration: MeterRegistration,
    private readonly signcrypter: MeterSigncrypter,
  ) {}

  static create(options: {
    params: SystemParams;
    key: MeterPrivateKey;
    registration: MeterRegistration;
    receivers: readonly ReceiverListing[];
    nextNonce?: bigint;
  }): MeterReporter {
    const { params, key, registration } = options;
    const position = new Map(registration.dimensions.map((name, i) => [name, i]));
    const policy: SharingPolicy = {
      dimensionCount: registration.dimensions.length,
      receivers: registration.policy.map((entry) => {
        const listing = options.receivers.find((r) => r.id === entry.receiver);
        if (!listing || listing.status !== 'active') {
          throw new Error(`receiver ${entry.receiver} of the sharing policy is not an active receiver`);
        }
        return {
          receiver: receiverKeyFor(params, listing),
          dimensions: entry.dimensions.map((name) => {
            const at = position.get(name);
            if (at === undefined) {
              throw new Error(
                `the policy gives ${entry.receiver} "${name}", which the meter does not measure`,
              );
            }
            return at;
          }),
        };
      }),
    };
    const signcrypter = MeterSigncrypter.create(params, key, policy, {
      epoch: registration.epoch,
      nextNonce: options.nextNonce,
    });
    return new MeterReporter(registration, signcrypter);
  }

  get nextNonce(): bigint {
    return this.signcrypter.nextNonce;
  }

  report(values: ReadingValues, timestamp: number = Date.now()): Report {
    return this.signcrypter.signcrypt(encodeReading(this.registration.dimensions, values), timestamp);
  }
}
