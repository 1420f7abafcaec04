import { readFile } from 'node:fs/promises';
import path from 'node:path';

import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';

import { CONTROL_CENTER_CONFIG } from './tokens';
import type { ControlCenterConfig } from '@app/config';
import {
  BlsPublicKey,
  blsVerify,
  checkMasterKey,
  fromHex,
  initCrypto,
  issuePartialKey,
  readKeystoreFile,
  sealPartialKey,
  type SecretScalar,
  type SystemParams,
  toHex,
} from '@app/crypto';
import { DomainError } from '@app/kernel';
import {
  controlCenterOf,
  type Genesis,
  loadGenesis,
  PARTIAL_KEY_REQUEST_TAG,
  partialKeyRequestMessage,
  type PartialKeyRequest,
  type PartialKeyResponse,
  type PartialKeySubject,
  Transaction,
} from '@app/ledger';

import { CONSORTIUM_FILES } from './consortium-setup';
import { NodeClient, NodeRequestError } from './node-client';

export class PartialKeyRefusedError extends DomainError {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Issues partial private keys (paper IV.B.1) to registered identities that ask for theirs: the
 * request must be signed with the secret of the public key the identity registered; the key is the
 * same every time for one registration (issuePartialKey), its alpha is published on the chain by a
 * cc.partial-key transaction (which activates the identity), and h leaves sealed to the identity's key.
 */
@Injectable()
export class PartialKeyService implements OnModuleInit {
  private readonly logger = new Logger(PartialKeyService.name);
  private masterKey!: SecretScalar;
  private organisationKey!: SecretScalar;
  private organisationId!: string;
  private genesis!: Genesis;
  private node!: NodeClient;

  constructor(@Inject(CONTROL_CENTER_CONFIG) private readonly config: ControlCenterConfig) {}

  async onModuleInit(): Promise<void> {
    await initCrypto();
    this.genesis = loadGenesis(JSON.parse(await readFile(this.config.genesisFile, 'utf8')) as unknown);
    this.organisationId = controlCenterOf(this.genesis.document);
    const master = await readKeystoreFile(
      path.join(this.config.keysDir, CONSORTIUM_FILES.masterKey),
      this.config.passphrase,
    );
    const organisation = await readKeystoreFile(
      path.join(this.config.keysDir, CONSORTIUM_FILES.organisationKey(this.organisationId)),
      this.config.passphrase,
    );
    // Keys of another setup would start a CC that refuses every request (each issuance checks x
    // against Ypub) or signs transactions no node takes: refuse to start instead.
    const ownPublicKey = this.genesis.document.organisations.find(
      (o) => o.id === this.organisationId,
    )!.publicKey;
    try {
      checkMasterKey(this.genesis.params, master.key);
    } catch {
      throw new Error(`${CONSORTIUM_FILES.masterKey} does not match the genesis' system parameters`);
    }
    if (toHex(organisation.publicKey) !== ownPublicKey) {
      throw new Error(
        `${CONSORTIUM_FILES.organisationKey(this.organisationId)} does not match the genesis' key of ${this.organisationId}`,
      );
    }
    this.masterKey = master.key;
    this.organisationKey = organisation.key;
    this.node = new NodeClient(this.config.nodeUrl);
    this.logger.log(`control center ${this.organisationId} ready for chain ${this.genesis.document.chainId}`);
  }

  get params(): SystemParams {
    return this.genesis.params;
  }

  async issue(identity: string, request: PartialKeyRequest, now = Date.now()): Promise<PartialKeyResponse> {
    const subject: PartialKeySubject = request.subject;
    if (Math.abs(now - request.timestamp) > this.config.requestWindowMs) {
      throw new PartialKeyRefusedError(
        'PARTIAL_KEY.STALE',
        `the request's timestamp is outside the ${this.config.requestWindowMs} ms window`,
      );
    }
    const registered = await this.node.identity(subject, identity);
    if (!registered) {
      throw new PartialKeyRefusedError('PARTIAL_KEY.UNKNOWN', `no ${subject} ${identity} is registered`);
    }
    if (registered.status === 'revoked') {
      throw new PartialKeyRefusedError('PARTIAL_KEY.REVOKED', `${subject} ${identity} is revoked`);
    }
    const publicKey = fromHex(registered.publicKey, 'registered public key', 48);
    const signed = blsVerify(
      // Checked by the node when the identity registered (with its proof of possession).
      BlsPublicKey.fromTrustedBytes(publicKey),
      { tag: PARTIAL_KEY_REQUEST_TAG, chainId: this.genesis.document.chainId },
      partialKeyRequestMessage(subject, identity, request.timestamp),
      fromHex(request.signature, 'signature', 96),
    );
    if (!signed) {
      throw new PartialKeyRefusedError(
        'PARTIAL_KEY.BAD_SIGNATURE',
        `the request is not signed with the key ${identity} registered`,
      );
    }
    const partial = issuePartialKey(
      this.masterKey,
      this.genesis.params,
      identity,
      fromHex(registered.registeredTx, 'registration', 32),
    );
    const alpha = toHex(partial.alpha);
    let txHash: string;
    if (registered.status === 'active') {
      if (registered.alpha !== alpha) {
        throw new PartialKeyRefusedError(
          'PARTIAL_KEY.CONFLICT',
          `${subject} ${identity} was activated with another alpha`,
        );
      }
      txHash = registered.activatedTx ?? '';
    } else {
      txHash = await this.publish(subject, identity, alpha);
    }
    const sealed = sealPartialKey(partial, publicKey);
    partial.h.destroy();
    return {
      identity,
      subject,
      alpha,
      ephemeral: toHex(sealed.ephemeral),
      sealed: toHex(sealed.sealed),
      tx: txHash,
    };
  }

  private async publish(subject: PartialKeySubject, identity: string, alpha: string): Promise<string> {
    const tx = Transaction.sign(
      {
        chainId: this.genesis.document.chainId,
        kind: 'cc.partial-key',
        sender: this.organisationId,
        timestamp: Date.now(),
        body: { subject, identity, alpha },
      },
      this.organisationKey,
    );
    try {
      return (await this.node.submit(tx.toJSON())).hash;
    } catch (error) {
      // Asked again before the first activation was final: it is pending with the same alpha, since
      // issuance is deterministic and only the control center publishes partial keys.
      if (error instanceof NodeRequestError && error.code === 'REGISTRY.ALREADY_ACTIVE') {
        return '';
      }
      throw error;
    }
  }
}
