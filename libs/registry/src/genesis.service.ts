import { readFile } from 'node:fs/promises';

import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import type { Pool } from 'pg';

import { APP_CONFIG, type AppConfig } from '@app/config';
import { fromHex, initCrypto, type SystemParams, toHex } from '@app/crypto';
import { EventStore } from '@app/event-store';
import { DomainError } from '@app/kernel';
import { type Genesis, type GenesisDocument, loadGenesis } from '@app/ledger';
import { PG_POOL } from '@app/persistence';

import { DelegateRegisteredEvent, OrganisationAdmittedEvent, streamOf } from './registry.events';

export class GenesisMismatchError extends DomainError {
  readonly code = 'GENESIS.MISMATCH';
}

/**
 * The consortium this node belongs to. At start-up it reads GENESIS_FILE; a fresh database is seeded
 * with the genesis organisations and delegates (as journal events), and a database that belongs to
 * another genesis makes the node refuse to start.
 */
@Injectable()
export class GenesisService implements OnModuleInit {
  private readonly logger = new Logger(GenesisService.name);
  private genesis: Genesis | undefined;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(PG_POOL) private readonly pool: Pool,
    private readonly store: EventStore,
  ) {}

  async onModuleInit(): Promise<void> {
    await initCrypto();
    const file = this.config.chain.genesisFile;
    if (!file) {
      throw new GenesisMismatchError(
        'GENESIS_FILE is not set: create one with `npm run cbsg -- setup` and point GENESIS_FILE at it',
      );
    }
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      throw new GenesisMismatchError(`cannot read GENESIS_FILE ${file}: ${(error as Error).message}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new GenesisMismatchError(`GENESIS_FILE ${file} is not JSON`);
    }
    this.genesis = loadGenesis(parsed);
    await this.seedOrCheck(this.genesis);
  }

  current(): { chainId: string; params: SystemParams; document: GenesisDocument; hash: Uint8Array } {
    if (!this.genesis) {
      throw new Error('the genesis document is not loaded yet');
    }
    return {
      chainId: this.genesis.document.chainId,
      params: this.genesis.params,
      document: this.genesis.document,
      hash: this.genesis.hash,
    };
  }

  private async seedOrCheck(genesis: Genesis): Promise<void> {
    const { rows } = await this.pool.query<{ hash: Buffer; chain_id: string }>(
      'SELECT hash, chain_id FROM chain_genesis',
    );
    const stored = rows[0];
    if (stored) {
      if (!stored.hash.equals(Buffer.from(genesis.hash))) {
        throw new GenesisMismatchError(
          `this database belongs to chain ${stored.chain_id} (genesis ${stored.hash.toString('hex').slice(0, 16)}…), ` +
            `but GENESIS_FILE describes ${genesis.document.chainId} (genesis ${toHex(genesis.hash).slice(0, 16)}…): use a fresh database`,
        );
      }
      return;
    }
    const doc = genesis.document;
    const at = new Date(doc.createdAt);
    await this.store.transaction(async (uow) => {
      await uow.sql.query(
        'INSERT INTO chain_genesis (hash, chain_id, document, loaded_at) VALUES ($1, $2, $3, now())',
        [Buffer.from(genesis.hash), doc.chainId, JSON.stringify(doc)],
      );
      for (const org of doc.organisations) {
        await uow.sql.query(
          'INSERT INTO registry_organisations (id, name, roles, public_key, stake, admitted_at) VALUES ($1, $2, $3, $4, $5, $6)',
          [org.id, org.name, org.roles, Buffer.from(fromHex(org.publicKey, 'public key', 48)), org.stake, at],
        );
        uow.append({
          streamId: streamOf.organisation(org.id),
          expectedVersion: 0,
          events: [
            {
              ...OrganisationAdmittedEvent.create({
                organisationId: org.id,
                name: org.name,
                roles: org.roles,
                publicKey: org.publicKey,
                stake: String(org.stake),
              }),
              occurredAt: at,
              metadata: { actor: 'genesis' },
            },
          ],
        });
      }
      for (const delegate of doc.delegates) {
        await uow.sql.query(
          `INSERT INTO registry_delegates (id, organisation, public_key, status, registered_at, updated_at)
           VALUES ($1, $2, $3, 'active', $4, $4)`,
          [
            delegate.id,
            delegate.organisation,
            Buffer.from(fromHex(delegate.publicKey, 'public key', 48)),
            at,
          ],
        );
        uow.append({
          streamId: streamOf.delegate(delegate.id),
          expectedVersion: 0,
          events: [
            {
              ...DelegateRegisteredEvent.create({
                delegateId: delegate.id,
                organisation: delegate.organisation,
                publicKey: delegate.publicKey,
              }),
              occurredAt: at,
              metadata: { actor: 'genesis' },
            },
          ],
        });
      }
    });
    this.logger.log(
      `seeded chain ${doc.chainId}: ${doc.organisations.length} organisations, ${doc.delegates.length} delegates`,
    );
  }
}
