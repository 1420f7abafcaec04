import { Inject } from '@nestjs/common';
import { CommandHandler, type ICommandHandler } from '@nestjs/cqrs';
import type { Pool } from 'pg';

import { APP_CONFIG, type AppConfig } from '@app/config';
import { EventStore } from '@app/event-store';
import { CLOCK, type Clock, ConcurrencyError } from '@app/kernel';
import { PG_POOL } from '@app/persistence';

import { decideRegistryTransaction, type RegistryChange } from '../domain/registry-rules';
import { GenesisService } from '../genesis.service';
import { RegistryErrors } from '../registry.errors';
import { applyRegistryChange, PostgresRegistryView } from '../registry.repository';
import { SubmitTransactionCommand, type TransactionReceipt } from './submit-transaction.command';

const UNIQUE_VIOLATION = '23505';

@CommandHandler(SubmitTransactionCommand)
export class SubmitTransactionHandler implements ICommandHandler<SubmitTransactionCommand> {
  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(CLOCK) private readonly clock: Clock,
    private readonly store: EventStore,
    private readonly genesis: GenesisService,
  ) {}

  async execute({ transaction: tx }: SubmitTransactionCommand): Promise<TransactionReceipt> {
    const receipt: TransactionReceipt = {
      hash: tx.hashHex,
      kind: tx.kind,
      status: 'pending',
      duplicate: false,
    };
    if (await this.known(tx.hash)) {
      return { ...receipt, duplicate: true };
    }
    const now = this.clock.now();
    const { chainId, params } = this.genesis.current();
    const change = await decideRegistryTransaction(tx, new PostgresRegistryView(this.pool), {
      chainId,
      params,
      now: now.getTime(),
      windowMs: this.config.intake.acceptWindowMs,
      futureSkewMs: this.config.intake.futureSkewMs,
    });
    try {
      await this.store.transaction(async (uow) => {
        const { streamId, event } = await applyRegistryChange(uow.sql, change, tx, now);
        await uow.sql.query(
          'INSERT INTO mempool_transactions (hash, kind, sender, bytes, received_at) VALUES ($1, $2, $3, $4, $5)',
          [Buffer.from(tx.hash), tx.kind, tx.sender, Buffer.from(tx.encode()), now],
        );
        const { rows } = await uow.sql.query<{ version: number | null }>(
          'SELECT MAX(stream_version) AS version FROM events WHERE stream_id = $1',
          [streamId],
        );
        uow.append({
          streamId,
          expectedVersion: rows[0]?.version ?? 0,
          events: [{ ...event, metadata: { actor: tx.sender, causationId: tx.hashHex } }],
        });
      });
    } catch (error) {
      // Two submissions raced: the same transaction (idempotent), or two registrations of one id.
      if (await this.known(tx.hash)) {
        return { ...receipt, duplicate: true };
      }
      if ((error as { code?: string }).code === UNIQUE_VIOLATION || error instanceof ConcurrencyError) {
        throw RegistryErrors.alreadyRegistered(...subjectOf(change));
      }
      throw error;
    }
    return receipt;
  }

  private async known(hash: Uint8Array): Promise<boolean> {
    const { rowCount } = await this.pool.query('SELECT 1 FROM mempool_transactions WHERE hash = $1', [
      Buffer.from(hash),
    ]);
    return (rowCount ?? 0) > 0;
  }
}

function subjectOf(change: RegistryChange): [string, string] {
  switch (change.type) {
    case 'meter-registered':
      return ['meter', change.meter.id];
    case 'receiver-registered':
      return ['receiver', change.receiver.id];
    case 'delegate-registered':
      return ['delegate', change.delegate.id];
    default:
      return [change.type.split('-')[0]!, change.id];
  }
}
