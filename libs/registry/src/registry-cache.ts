import { Inject, Injectable } from '@nestjs/common';
import { EventsHandler, type IEventHandler } from '@nestjs/cqrs';
import type { Pool } from 'pg';

import { ReceiverPublicKey, RegisteredMeter } from '@app/crypto';
import { PG_POOL } from '@app/persistence';

import { GenesisService } from './genesis.service';
import {
  MeterActivatedEvent,
  MeterRevokedEvent,
  ReceiverActivatedEvent,
  ReceiverRegisteredEvent,
  ReceiverRevokedEvent,
} from './registry.events';

export type MeterStatus = 'registered' | 'active' | 'revoked';

export interface CachedMeter {
  id: string;
  status: MeterStatus;
  /** Decoded once from trusted storage (checked at activation); undefined until active. */
  key?: RegisteredMeter;
  /** Receivers of the meter's sharing policy. */
  receivers: readonly string[];
}

export interface CachedReceiver {
  id: string;
  status: MeterStatus;
  organisation: string;
  role: string;
  key: ReceiverPublicKey;
}

/**
 * The hot-path view of the registry for report intake: meter keys decoded once and kept, receivers
 * likewise. Entries are dropped when this process records a change to them (the registry's events)
 * and expire after `ttlMs` anyway, so a change made by another process is seen within that time.
 */
@Injectable()
export class RegistryCache {
  private readonly meterEntries = new Map<string, { value: CachedMeter | null; at: number }>();
  private readonly receiverEntries = new Map<string, { value: CachedReceiver | null; at: number }>();
  private readonly ttlMs = 5_000;
  private readonly maxEntries = 2_000_000;

  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    private readonly genesis: GenesisService,
  ) {}

  /** Meters by id (null: unknown). One query for all the ids not cached. */
  async meters(ids: readonly string[]): Promise<Map<string, CachedMeter | null>> {
    const now = Date.now();
    const result = new Map<string, CachedMeter | null>();
    const missing: string[] = [];
    for (const id of new Set(ids)) {
      const hit = this.meterEntries.get(id);
      if (hit && now - hit.at < this.ttlMs) {
        result.set(id, hit.value);
      } else {
        missing.push(id);
      }
    }
    if (missing.length > 0) {
      const { rows } = await this.pool.query<{
        id: string;
        status: MeterStatus;
        verification_key: Buffer | null;
        policy: Array<{ receiver: string }>;
      }>('SELECT id, status, verification_key, policy FROM registry_meters WHERE id = ANY($1)', [missing]);
      const found = new Map(rows.map((r) => [r.id, r]));
      if (this.meterEntries.size > this.maxEntries) {
        this.meterEntries.clear();
      }
      for (const id of missing) {
        const row = found.get(id);
        const value: CachedMeter | null = row
          ? {
              id,
              status: row.status,
              // Trusted: this node checked the key in full when it activated the meter.
              key: row.verification_key ? RegisteredMeter.fromTrustedBytes(row.verification_key) : undefined,
              receivers: row.policy.map((p) => p.receiver),
            }
          : null;
        this.meterEntries.set(id, { value, at: now });
        result.set(id, value);
      }
    }
    return result;
  }

  async receiver(id: string): Promise<CachedReceiver | null> {
    const hit = this.receiverEntries.get(id);
    if (hit && Date.now() - hit.at < this.ttlMs) {
      return hit.value;
    }
    const { rows } = await this.pool.query<{
      id: string;
      status: MeterStatus;
      organisation: string;
      role: string;
      encryption_key: Buffer;
    }>('SELECT id, status, organisation, role, encryption_key FROM registry_receivers WHERE id = $1', [id]);
    const row = rows[0];
    const value: CachedReceiver | null = row
      ? {
          id,
          status: row.status,
          organisation: row.organisation,
          role: row.role,
          key: ReceiverPublicKey.fromTrustedBytes(this.genesis.current().params, row.encryption_key),
        }
      : null;
    this.receiverEntries.set(id, { value, at: Date.now() });
    return value;
  }

  forgetMeter(id: string): void {
    this.meterEntries.delete(id);
  }

  forgetReceiver(id: string): void {
    this.receiverEntries.delete(id);
  }
}

@EventsHandler(MeterActivatedEvent, MeterRevokedEvent)
export class ForgetChangedMeter implements IEventHandler<MeterActivatedEvent | MeterRevokedEvent> {
  constructor(private readonly cache: RegistryCache) {}

  handle(event: MeterActivatedEvent | MeterRevokedEvent): void {
    this.cache.forgetMeter(event.payload.id);
  }
}

@EventsHandler(ReceiverRegisteredEvent, ReceiverActivatedEvent, ReceiverRevokedEvent)
export class ForgetChangedReceiver implements IEventHandler<
  ReceiverRegisteredEvent | ReceiverActivatedEvent | ReceiverRevokedEvent
> {
  constructor(private readonly cache: RegistryCache) {}

  handle(event: ReceiverRegisteredEvent | ReceiverActivatedEvent | ReceiverRevokedEvent): void {
    this.cache.forgetReceiver('receiverId' in event.payload ? event.payload.receiverId : event.payload.id);
  }
}
