import { BlsPublicKey, toHex } from '@app/crypto';
import type { NewEvent } from '@app/kernel';
import type { Transaction } from '@app/ledger';
import type { SqlExecutor } from '@app/persistence';

import {
  contractKey,
  type ContractState,
  type DelegateState,
  type MeterState,
  type OrganisationState,
  type ReceiverState,
  type RegistryChange,
  type RegistryView,
} from './domain/registry-rules';
import type { ReceiverRole } from './domain/transaction-bodies';
import {
  BallotCastEvent,
  ContractDeployedEvent,
  ContractResultRecordedEvent,
  ReceiverPublishedEvent,
  DelegateRegisteredEvent,
  DelegateRevokedEvent,
  MeterActivatedEvent,
  MeterRegisteredEvent,
  MeterRevokedEvent,
  ReceiverActivatedEvent,
  ReceiverRegisteredEvent,
  ReceiverRevokedEvent,
  streamOf,
} from './registry.events';

/** The registry's state tables (registry_*), read through one executor (a pool or a transaction). */
export class PostgresRegistryView implements RegistryView {
  constructor(private readonly sql: SqlExecutor) {}

  async organisation(id: string): Promise<OrganisationState | undefined> {
    return (await this.organisations([id])).get(id);
  }

  /** Several organisations in one query (the unknown ones are absent from the map). */
  organisations(ids: readonly string[]): Promise<Map<string, OrganisationState>> {
    return this.byIds(
      'id, name, roles, public_key, stake FROM registry_organisations',
      ids,
      (row: { id: string; name: string; roles: string[]; public_key: Buffer; stake: string }) => ({
        id: row.id,
        name: row.name,
        roles: row.roles,
        // Checked (proof of possession) when the genesis document was loaded.
        publicKey: BlsPublicKey.fromTrustedBytes(row.public_key),
        stake: BigInt(row.stake),
      }),
    );
  }

  async meter(id: string): Promise<MeterState | undefined> {
    return (await this.meters([id])).get(id);
  }

  /** Several meters in one query (the unknown ones are absent from the map). */
  meters(ids: readonly string[]): Promise<Map<string, MeterState>> {
    return this.byIds(
      'id, registrar, public_key, status, dimensions, policy, verification_key, owner FROM registry_meters',
      ids,
      (row: {
        id: string;
        registrar: string;
        public_key: Buffer;
        status: MeterState['status'];
        dimensions: string[];
        policy: MeterState['policy'];
        verification_key: Buffer | null;
        owner: MeterState['owner'];
      }) => ({
        id: row.id,
        registrar: row.registrar,
        publicKey: row.public_key,
        status: row.status,
        dimensions: row.dimensions,
        policy: row.policy,
        ...(row.verification_key ? { verificationKey: row.verification_key } : {}),
        ...(row.owner ? { owner: row.owner } : {}),
      }),
    );
  }

  async receiver(id: string): Promise<ReceiverState | undefined> {
    return (await this.receivers([id])).get(id);
  }

  /** Several receivers in one query (the unknown ones are absent from the map). */
  receivers(ids: readonly string[]): Promise<Map<string, ReceiverState>> {
    return this.byIds(
      'id, organisation, role, public_key, status FROM registry_receivers',
      ids,
      (row: {
        id: string;
        organisation: string;
        role: ReceiverRole;
        public_key: Buffer;
        status: ReceiverState['status'];
      }) => ({
        id: row.id,
        organisation: row.organisation,
        role: row.role,
        publicKey: row.public_key,
        status: row.status,
      }),
    );
  }

  /** The rows of `columnsFromTable` whose id is one of `ids`, each made a state by `toState`, by id. */
  private async byIds<R extends { id: string }, S>(
    columnsFromTable: string,
    ids: readonly string[],
    toState: (row: R) => S,
  ): Promise<Map<string, S>> {
    const { rows } = await this.sql.query<R>(`SELECT ${columnsFromTable} WHERE id = ANY($1::text[])`, [
      [...new Set(ids)],
    ]);
    return new Map(rows.map((row) => [row.id, toState(row)]));
  }

  async contract(owner: string, id: string): Promise<ContractState | undefined> {
    const { rows } = await this.sql.query<ContractState>(
      `SELECT id, version, owner FROM registry_contracts WHERE id = $1 AND owner = $2
       ORDER BY version DESC LIMIT 1`,
      [id, owner],
    );
    return rows[0];
  }

  async delegate(id: string): Promise<DelegateState | undefined> {
    const { rows } = await this.sql.query<{
      id: string;
      organisation: string;
      status: DelegateState['status'];
    }>('SELECT id, organisation, status FROM registry_delegates WHERE id = $1', [id]);
    return rows[0];
  }
}

/**
 * The final state read once per identity, the meters of a block in one query. It must not outlive
 * the final state it read: it serves one block's validation or selection, or the mempool's pending
 * state until the next block becomes final.
 */
export class BlockRegistryView implements RegistryView {
  private readonly base: PostgresRegistryView;
  private readonly organisationReads = new Map<string, Promise<OrganisationState | undefined>>();
  private readonly meterReads = new Map<string, Promise<MeterState | undefined>>();
  private readonly receiverReads = new Map<string, Promise<ReceiverState | undefined>>();
  private readonly delegateReads = new Map<string, Promise<DelegateState | undefined>>();
  private readonly contractReads = new Map<string, Promise<ContractState | undefined>>();

  constructor(sql: SqlExecutor) {
    this.base = new PostgresRegistryView(sql);
  }

  /** Reads the meters a block names, all at once. */
  preloadMeters(ids: readonly string[]): Promise<void> {
    return readAllOnce(this.meterReads, ids, (missing) => this.base.meters(missing));
  }

  /**
   * Reads what a block names, one query per kind and the kinds at once: under load each round trip
   * to Postgres costs tens of milliseconds, and a block's checks would otherwise read each receiver
   * and each sender one after the other.
   */
  async preload(names: {
    meters?: readonly string[];
    receivers?: readonly string[];
    organisations?: readonly string[];
  }): Promise<void> {
    await Promise.all([
      this.preloadMeters(names.meters ?? []),
      readAllOnce(this.receiverReads, names.receivers ?? [], (missing) => this.base.receivers(missing)),
      readAllOnce(this.organisationReads, names.organisations ?? [], (missing) =>
        this.base.organisations(missing),
      ),
    ]);
  }

  organisation(id: string): Promise<OrganisationState | undefined> {
    return readOnce(this.organisationReads, id, () => this.base.organisation(id));
  }

  meter(id: string): Promise<MeterState | undefined> {
    return readOnce(this.meterReads, id, () => this.base.meter(id));
  }

  async meters(ids: readonly string[]): Promise<Map<string, MeterState>> {
    await this.preloadMeters(ids);
    const found = new Map<string, MeterState>();
    for (const id of new Set(ids)) {
      const meter = await this.meter(id);
      if (meter) {
        found.set(id, meter);
      }
    }
    return found;
  }

  receiver(id: string): Promise<ReceiverState | undefined> {
    return readOnce(this.receiverReads, id, () => this.base.receiver(id));
  }

  delegate(id: string): Promise<DelegateState | undefined> {
    return readOnce(this.delegateReads, id, () => this.base.delegate(id));
  }

  contract(owner: string, id: string): Promise<ContractState | undefined> {
    return readOnce(this.contractReads, contractKey(owner, id), () => this.base.contract(owner, id));
  }
}

/** Reads the ids not read yet in one call; a caller asking for one of them meanwhile joins it. */
async function readAllOnce<T>(
  reads: Map<string, Promise<T | undefined>>,
  ids: readonly string[],
  readAll: (missing: string[]) => Promise<Map<string, T>>,
): Promise<void> {
  const missing = [...new Set(ids)].filter((id) => !reads.has(id));
  if (missing.length === 0) {
    return;
  }
  const all = readAll(missing);
  for (const id of missing) {
    const one = all.then((found) => found.get(id));
    reads.set(id, one);
    // A failed read is not remembered: the next caller reads again.
    one.catch(() => reads.delete(id));
  }
  await all;
}

function readOnce<T>(reads: Map<string, Promise<T>>, id: string, read: () => Promise<T>): Promise<T> {
  let pending = reads.get(id);
  if (!pending) {
    pending = read();
    reads.set(id, pending);
    // A failed read is not remembered: the next caller reads again.
    pending.catch(() => reads.delete(id));
  }
  return pending;
}

/** A journal event and the stream it belongs to. */
export interface StreamEvent {
  streamId: string;
  event: NewEvent;
}

/**
 * Writes a decided change to the state tables and returns the journal events that record it, each
 * with the stream it belongs to. Runs inside the transaction that appends those events.
 */
export async function applyRegistryChange(
  sql: SqlExecutor,
  change: RegistryChange,
  tx: Transaction,
  at: Date,
): Promise<StreamEvent[]> {
  if (change.type === 'contract-result') {
    // Nothing in the registry changes: the chain and each meter's journal stream record them.
    const { receiverId, results } = change.result;
    return results.map((result) => ({
      streamId: streamOf.meter(result.meterId),
      event: ContractResultRecordedEvent.create({
        organisation: change.organisation,
        receiverId,
        contractId: result.contractId,
        contractVersion: result.contractVersion,
        trigger: result.trigger,
        resultHash: result.resultHash,
        actions: result.actions.map((a) => ({ id: a.id, type: a.type })),
        tx: tx.hashHex,
      }),
    }));
  }
  return [await applyStateChange(sql, change, tx, at)];
}

async function applyStateChange(
  sql: SqlExecutor,
  change: Exclude<RegistryChange, { type: 'contract-result' }>,
  tx: Transaction,
  at: Date,
): Promise<StreamEvent> {
  const txHash = Buffer.from(tx.hash);
  const hex = tx.hashHex;
  switch (change.type) {
    case 'meter-registered': {
      const m = change.meter;
      await sql.query(
        `INSERT INTO registry_meters (id, registrar, public_key, dimensions, policy, epoch, owner, location, status,
                                      registered_tx, registered_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'registered', $9, $10, $10)`,
        [
          m.id,
          m.registrar,
          Buffer.from(m.publicKey),
          m.dimensions,
          JSON.stringify(m.policy),
          JSON.stringify(m.epoch),
          JSON.stringify(m.owner),
          m.location ?? null,
          txHash,
          at,
        ],
      );
      return {
        streamId: streamOf.meter(m.id),
        event: MeterRegisteredEvent.create({
          meterId: m.id,
          registrar: m.registrar,
          publicKey: toHex(m.publicKey),
          dimensions: m.dimensions,
          policy: m.policy,
          epoch: m.epoch,
          owner: m.owner,
          ...(m.location === undefined ? {} : { location: m.location }),
          tx: hex,
        }),
      };
    }
    case 'meter-activated':
      await sql.query(
        `UPDATE registry_meters SET status = 'active', alpha = $2, verification_key = $3, activated_tx = $4, updated_at = $5
         WHERE id = $1 AND status = 'registered'`,
        [change.id, Buffer.from(change.alpha), Buffer.from(change.verificationKey), txHash, at],
      );
      return {
        streamId: streamOf.meter(change.id),
        event: MeterActivatedEvent.create({ id: change.id, alpha: toHex(change.alpha), tx: hex }),
      };
    case 'meter-revoked':
      await sql.query(
        `UPDATE registry_meters SET status = 'revoked', revoked_tx = $2, revoked_reason = $3, updated_at = $4 WHERE id = $1`,
        [change.id, txHash, change.reason, at],
      );
      return {
        streamId: streamOf.meter(change.id),
        event: MeterRevokedEvent.create({ id: change.id, reason: change.reason, tx: hex }),
      };
    case 'receiver-registered': {
      const r = change.receiver;
      await sql.query(
        `INSERT INTO registry_receivers (id, organisation, role, public_key, encryption_key, status, registered_tx, registered_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 'registered', $6, $7, $7)`,
        [
          r.id,
          r.organisation,
          r.role,
          Buffer.from(r.publicKey),
          Buffer.from(change.encryptionKey),
          txHash,
          at,
        ],
      );
      return {
        streamId: streamOf.receiver(r.id),
        event: ReceiverRegisteredEvent.create({
          receiverId: r.id,
          organisation: r.organisation,
          role: r.role,
          publicKey: toHex(r.publicKey),
          tx: hex,
        }),
      };
    }
    case 'receiver-activated':
      await sql.query(
        `UPDATE registry_receivers SET status = 'active', alpha = $2, activated_tx = $3, updated_at = $4 WHERE id = $1 AND status = 'registered'`,
        [change.id, Buffer.from(change.alpha), txHash, at],
      );
      return {
        streamId: streamOf.receiver(change.id),
        event: ReceiverActivatedEvent.create({ id: change.id, alpha: toHex(change.alpha), tx: hex }),
      };
    case 'receiver-revoked':
      await sql.query(
        `UPDATE registry_receivers SET status = 'revoked', revoked_tx = $2, revoked_reason = $3, updated_at = $4 WHERE id = $1`,
        [change.id, txHash, change.reason, at],
      );
      return {
        streamId: streamOf.receiver(change.id),
        event: ReceiverRevokedEvent.create({ id: change.id, reason: change.reason, tx: hex }),
      };
    case 'delegate-registered': {
      const d = change.delegate;
      await sql.query(
        `INSERT INTO registry_delegates (id, organisation, public_key, status, registered_tx, registered_at, updated_at)
         VALUES ($1, $2, $3, 'active', $4, $5, $5)`,
        [d.id, d.organisation, Buffer.from(change.publicKey), txHash, at],
      );
      return {
        streamId: streamOf.delegate(d.id),
        event: DelegateRegisteredEvent.create({
          delegateId: d.id,
          organisation: d.organisation,
          publicKey: toHex(change.publicKey),
          tx: hex,
        }),
      };
    }
    case 'ballot-cast':
      await sql.query(
        `INSERT INTO registry_ballots (organisation, approves, tx, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (organisation) DO UPDATE SET approves = EXCLUDED.approves, tx = EXCLUDED.tx, updated_at = EXCLUDED.updated_at`,
        [change.organisation, change.approves, txHash, at],
      );
      return {
        streamId: streamOf.organisation(change.organisation),
        event: BallotCastEvent.create({
          organisation: change.organisation,
          approves: change.approves,
          tx: hex,
        }),
      };
    case 'contract-deployed':
      await sql.query(
        `INSERT INTO registry_contracts (id, version, owner, receiver_id, document, hash, tx, deployed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [
          change.contract.id,
          change.contract.version,
          change.contract.owner,
          change.receiverId,
          JSON.stringify(change.contract),
          change.hash,
          txHash,
          at,
        ],
      );
      return {
        streamId: `contract-${change.contract.id}`,
        event: ContractDeployedEvent.create({
          id: change.contract.id,
          version: change.contract.version,
          owner: change.contract.owner,
          receiverId: change.receiverId,
          hash: change.hash,
          tx: hex,
        }),
      };
    case 'receiver-publication':
      return {
        streamId: streamOf.receiver(change.publication.receiverId),
        event: ReceiverPublishedEvent.create({
          organisation: change.organisation,
          receiverId: change.publication.receiverId,
          subject: change.publication.subject,
          from: change.publication.from,
          to: change.publication.to,
          contentHash: change.publication.contentHash,
          tx: hex,
        }),
      };
    case 'delegate-revoked':
      await sql.query(
        `UPDATE registry_delegates SET status = 'revoked', revoked_tx = $2, revoked_reason = $3, updated_at = $4 WHERE id = $1`,
        [change.id, txHash, change.reason, at],
      );
      return {
        streamId: streamOf.delegate(change.id),
        event: DelegateRevokedEvent.create({ id: change.id, reason: change.reason, tx: hex }),
      };
  }
}
