import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import type { Pool } from 'pg';

import { APP_CONFIG, type AppConfig } from '@app/config';
import { BlsPublicKey, fromHex, nodeLinkKey, readKeystoreFile, type SecretScalar } from '@app/crypto';
import { DomainError } from '@app/kernel';
import { type BlockRules, blockRulesOf, type Timing } from '@app/ledger';
import { PG_POOL } from '@app/persistence';
import { GenesisService } from '@app/registry';

export class ChainConfigError extends DomainError {
  readonly code = 'CHAIN.CONFIG';
}

/**
 * What the chain services share: the genesis timing, this node's identity key, the keys of the
 * delegates it produces for, and every delegate's and node's public key.
 */
@Injectable()
export class ChainContext implements OnModuleInit {
  private readonly logger = new Logger(ChainContext.name);
  readonly localDelegates = new Map<string, SecretScalar>();
  private nodeKeyValue: SecretScalar | undefined;
  private readonly nodeKeys = new Map<string, BlsPublicKey>();
  private readonly delegateKeys = new Map<string, BlsPublicKey>();
  private readonly linkKeys = new Map<string, Buffer>();

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(PG_POOL) private readonly pool: Pool,
    private readonly genesis: GenesisService,
  ) {}

  async onModuleInit(): Promise<void> {
    const { document } = this.genesis.current();
    for (const node of document.nodes) {
      // Checked with their proofs of possession when the genesis document was loaded.
      this.nodeKeys.set(node.id, BlsPublicKey.fromTrustedBytes(fromHex(node.publicKey, 'node key', 48)));
    }
    const { nodeId, nodeKeystore, delegateKeystores, keystorePassphrase } = this.config.chain;
    if (!this.nodeKeys.has(nodeId)) {
      throw new ChainConfigError(
        `NODE_ID ${nodeId} is not one of the genesis nodes (${[...this.nodeKeys.keys()].join(', ')})`,
      );
    }
    // A peer authenticates its messages with the key it shares with this node, from its genesis key.
    for (const peer of this.config.chain.peers) {
      if (!this.nodeKeys.has(peer.id) || peer.id === nodeId) {
        throw new ChainConfigError(
          `PEERS names ${peer.id}, which is not another node of the genesis (${[...this.nodeKeys.keys()].join(', ')})`,
        );
      }
    }
    if ((nodeKeystore || delegateKeystores.length > 0) && !keystorePassphrase) {
      throw new ChainConfigError('KEYSTORE_PASSPHRASE is not set: the node cannot open its keystores');
    }
    if (nodeKeystore) {
      const entry = await readKeystoreFile(nodeKeystore, keystorePassphrase!);
      if (
        entry.id !== nodeId ||
        !Buffer.from(entry.publicKey).equals(Buffer.from(this.nodeKeys.get(nodeId)!.bytes))
      ) {
        throw new ChainConfigError(
          `NODE_KEYSTORE holds the key of ${entry.id}, not the genesis key of ${nodeId}`,
        );
      }
      this.nodeKeyValue = entry.key;
    }
    await this.refreshDelegateKeys();
    for (const file of delegateKeystores) {
      const entry = await readKeystoreFile(file, keystorePassphrase!);
      const registered = this.delegateKeys.get(entry.id);
      if (
        !registered ||
        !Buffer.from(registered.bytes).equals(Buffer.from(entry.publicKey.subarray(0, 48)))
      ) {
        throw new ChainConfigError(
          `${file} holds a key for ${entry.id} that is not that delegate's registered key`,
        );
      }
      this.localDelegates.set(entry.id, entry.key);
    }
    this.logger.log(
      `${nodeId}: ${this.localDelegates.size} delegate(s) hosted${this.localDelegates.size ? ` (${[...this.localDelegates.keys()].join(', ')})` : ''}, ${this.config.chain.peers.length} peer(s)`,
    );
  }

  get chainId(): string {
    return this.genesis.current().chainId;
  }

  get genesisHash(): Uint8Array {
    return this.genesis.current().hash;
  }

  get nodeId(): string {
    return this.config.chain.nodeId;
  }

  get timing(): Timing {
    const { document } = this.genesis.current();
    return {
      genesisTime: document.createdAt,
      slotMs: document.consensus.slotMs,
      producers: document.consensus.producers,
    };
  }

  /** What makes a block valid on every node: its size and its entries' window (genesis). */
  get blockRules(): BlockRules {
    return blockRulesOf(this.genesis.current().document);
  }

  nodeKey(): SecretScalar {
    if (!this.nodeKeyValue) {
      throw new ChainConfigError('NODE_KEYSTORE is not set: this node cannot sign messages');
    }
    return this.nodeKeyValue;
  }

  hasNodeKey(): boolean {
    return this.nodeKeyValue !== undefined;
  }

  nodePublicKey(nodeId: string): BlsPublicKey | undefined {
    return this.nodeKeys.get(nodeId);
  }

  /**
   * The key this node shares with another genesis node, for their messages' MACs (computed once per
   * peer); undefined for itself, a stranger, or when this node has no key of its own.
   */
  linkKey(nodeId: string): Buffer | undefined {
    let key = this.linkKeys.get(nodeId);
    if (!key) {
      const peer = this.nodeKeys.get(nodeId);
      if (!peer || nodeId === this.nodeId || !this.nodeKeyValue) {
        return undefined;
      }
      key = nodeLinkKey(this.nodeKeyValue, peer, this.chainId, [this.nodeId, nodeId]);
      this.linkKeys.set(nodeId, key);
    }
    return key;
  }

  delegateKey(id: string): BlsPublicKey | undefined {
    return this.delegateKeys.get(id);
  }

  /** Reloads the delegates' keys from the final registry (after a delegate registration is final). */
  async refreshDelegateKeys(): Promise<void> {
    const { rows } = await this.pool.query<{ id: string; public_key: Buffer }>(
      'SELECT id, public_key FROM registry_delegates',
    );
    for (const row of rows) {
      // Checked with the proof of possession when registered (genesis or delegate.register).
      this.delegateKeys.set(row.id, BlsPublicKey.fromTrustedBytes(row.public_key));
    }
  }
}
