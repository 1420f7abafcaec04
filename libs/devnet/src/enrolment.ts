import { type EpochPolicy, type MeterPrivateKey, type SecretScalar, type SystemParams } from '@app/crypto';
import { Transaction, type TxKind } from '@app/ledger';
import {
  assembleMeterKey,
  createHolderIdentity,
  fetchPartialKey,
  type HolderIdentity,
  MeterReporter,
  type ReceiverListing,
  type StandardReceivers,
  waitForIdentity,
} from '@app/meter-sdk';

/**
 * Enrols receivers and a fleet of meters the way their operators would, over the public APIs: each
 * registration is a transaction signed by the responsible organisation, each identity fetches its
 * partial key from the control center with its own key.
 */
export interface EnrolmentContext {
  nodeUrl: string;
  ccUrl: string;
  chainId: string;
  params: SystemParams;
  organisationKeys: ReadonlyMap<string, SecretScalar>;
}

export class EnrolmentError extends Error {}

export async function submitTransaction(
  ctx: EnrolmentContext,
  sender: string,
  kind: TxKind,
  body: object,
): Promise<string> {
  const key = ctx.organisationKeys.get(sender);
  if (!key) {
    throw new EnrolmentError(`no signing key for organisation ${sender}`);
  }
  const tx = Transaction.sign({ chainId: ctx.chainId, kind, sender, timestamp: Date.now(), body }, key);
  const response = await fetch(`${ctx.nodeUrl}/transactions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(tx.toJSON()),
  });
  const answer = (await response.json()) as { hash?: string; code?: string; message?: string };
  if (response.status !== 202) {
    throw new EnrolmentError(
      `${kind} by ${sender}: ${response.status} ${answer.code ?? ''} ${answer.message ?? ''}`,
    );
  }
  return answer.hash!;
}

export interface ReceiverSpec {
  id: string;
  organisation: string;
  role: 'control-center' | 'grid-operator' | 'equipment-supplier' | 'other';
}

export async function enrolReceiver(ctx: EnrolmentContext, spec: ReceiverSpec): Promise<HolderIdentity> {
  const holder = createHolderIdentity(spec.id);
  await submitTransaction(ctx, spec.organisation, 'receiver.register', {
    receiverId: spec.id,
    role: spec.role,
    publicKey: holder.publicKey,
    possession: holder.possession,
  });
  // Registrations and partial keys take effect when their block is final.
  await waitForIdentity(ctx.nodeUrl, 'receiver', spec.id, 'registered');
  await fetchPartialKey({
    ccUrl: ctx.ccUrl,
    chainId: ctx.chainId,
    params: ctx.params,
    subject: 'receiver',
    holder,
  });
  await waitForIdentity(ctx.nodeUrl, 'receiver', spec.id, 'active');
  return holder;
}

/** The organisations that register the three standard receivers. */
export interface StandardOwners {
  controlCenter: string;
  gridOperator: string;
  equipmentSupplier: string;
}

/** The control center's, the grid operator's and the equipment supplier's receivers, registered and active. */
export async function enrolStandardReceivers(
  ctx: EnrolmentContext,
  receivers: StandardReceivers,
  owners: StandardOwners,
): Promise<void> {
  await enrolReceiver(ctx, {
    id: receivers.controlCenter,
    organisation: owners.controlCenter,
    role: 'control-center',
  });
  await enrolReceiver(ctx, {
    id: receivers.gridOperator,
    organisation: owners.gridOperator,
    role: 'grid-operator',
  });
  await enrolReceiver(ctx, {
    id: receivers.equipmentSupplier,
    organisation: owners.equipmentSupplier,
    role: 'equipment-supplier',
  });
}

export interface MeterSpec {
  meterId: string;
  registrar: string;
  dimensions: readonly string[];
  policy: ReadonlyArray<{ receiver: string; dimensions: readonly string[] }>;
  epoch: EpochPolicy;
  /** publicKey (compressed G1, hex): the owner's key for its device contracts (paper III.F). */
  owner: { name: string; notifyUrl: string; publicKey?: string };
  location?: string;
}

export interface EnrolledMeter {
  spec: MeterSpec;
  holder: HolderIdentity;
  key: MeterPrivateKey;
  reporter: MeterReporter;
}

export async function enrolMeters(
  ctx: EnrolmentContext,
  specs: readonly MeterSpec[],
  options: { concurrency?: number; onProgress?: (done: number) => void } = {},
): Promise<EnrolledMeter[]> {
  const response = await fetch(`${ctx.nodeUrl}/receivers`);
  const receivers = (await response.json()) as ReceiverListing[];
  const enrolled = new Array<EnrolledMeter>(specs.length);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < specs.length) {
      const index = next++;
      const spec = specs[index]!;
      const holder = createHolderIdentity(spec.meterId);
      await submitTransaction(ctx, spec.registrar, 'meter.register', {
        meterId: spec.meterId,
        publicKey: holder.publicKey,
        possession: holder.possession,
        dimensions: spec.dimensions,
        policy: spec.policy,
        epoch: spec.epoch,
        owner: spec.owner,
        ...(spec.location === undefined ? {} : { location: spec.location }),
      });
      await waitForIdentity(ctx.nodeUrl, 'meter', spec.meterId, 'registered');
      const partial = await fetchPartialKey({
        ccUrl: ctx.ccUrl,
        chainId: ctx.chainId,
        params: ctx.params,
        subject: 'meter',
        holder,
      });
      await waitForIdentity(ctx.nodeUrl, 'meter', spec.meterId, 'active');
      const key = assembleMeterKey(ctx.params, holder.keys.secret, partial);
      const reporter = MeterReporter.create({
        params: ctx.params,
        key,
        registration: {
          meterId: spec.meterId,
          dimensions: spec.dimensions,
          policy: spec.policy,
          epoch: spec.epoch,
        },
        receivers,
      });
      enrolled[index] = { spec, holder, key, reporter };
      done += 1;
      options.onProgress?.(done);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 8 }, worker));
  return enrolled;
}
