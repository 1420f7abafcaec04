import { compileContract, type ContractDocument, shippedContractVersion } from '@app/contracts';
import {
  BlsPublicKey,
  blsVerifyPossession,
  CryptoError,
  fromHex,
  ReceiverPublicKey,
  RegisteredMeter,
  type SystemParams,
} from '@app/crypto';
import { OWNER_SENDER_PREFIX, type Transaction } from '@app/ledger';

import { RegistryErrors } from '../registry.errors';
import {
  isRegistryKind,
  type ContractResultBody,
  type ReceiverPublicationBody,
  type MeterRegisterBody,
  parseRegistryBody,
  REQUIRED_ROLE,
  type ReceiverRole,
} from './transaction-bodies';

/**
 * The registry's rules as one pure function: given a signed transaction and a view of the current
 * state, either refuse it (a RegistryError naming the rule) or say what changes. The same function
 * runs when a node accepts a transaction into its mempool and when it validates a block, so every
 * node decides alike. It must not mutate anything.
 */

export interface OrganisationState {
  id: string;
  name: string;
  roles: readonly string[];
  publicKey: BlsPublicKey;
  stake: bigint;
}

export type RegistryStatus = 'registered' | 'active' | 'revoked';

export interface MeterPolicyEntry {
  receiver: string;
  dimensions: string[];
}

export interface MeterState {
  id: string;
  registrar: string;
  publicKey: Uint8Array;
  status: RegistryStatus;
  dimensions: string[];
  policy: MeterPolicyEntry[];
  /** @app/crypto RegisteredMeter storage form, once active. */
  verificationKey?: Uint8Array;
  /** Who owns it: where actions are pushed, and the key they deploy device contracts with. */
  owner?: { name: string; notifyUrl: string; publicKey?: string };
}

/** The role an owner acts in: deploying contracts for the devices behind its own meter, nothing else. */
const OWNER_ROLE = 'meter-owner';

export interface ReceiverState {
  id: string;
  organisation: string;
  role: ReceiverRole;
  publicKey: Uint8Array;
  status: RegistryStatus;
}

export interface DelegateState {
  id: string;
  organisation: string;
  status: 'active' | 'revoked';
}

/** What the rules need to read; implemented over Postgres (and, for blocks, over a block's overlay). */
export interface RegistryView {
  organisation(id: string): Promise<OrganisationState | undefined>;
  meter(id: string): Promise<MeterState | undefined>;
  /** Several meters at once (the unknown ones are absent from the map): one read, not one each. */
  meters(ids: readonly string[]): Promise<Map<string, MeterState>>;
  receiver(id: string): Promise<ReceiverState | undefined>;
  delegate(id: string): Promise<DelegateState | undefined>;
  /**
   * The latest version of a contract that this owner deployed. Contract ids are the owner's names:
   * two organisations (two grid operators, say) each deploy their own `grid-operator/feedback`.
   */
  contract(owner: string, id: string): Promise<ContractState | undefined>;
}

export interface ContractState {
  id: string;
  version: number;
  owner: string;
}

/** One key for an owner's contract id (ids and owners are identifiers: neither holds a NUL). */
export function contractKey(owner: string, id: string): string {
  return `${owner}\u0000${id}`;
}

export interface RegistryContext {
  chainId: string;
  params: SystemParams;
  /**
   * The reference time of the acceptance window: now, when a node takes a transaction into its
   * mempool; the block's timestamp, when it validates a block (so every node judges alike).
   */
  now: number;
  /** How far in the past a transaction's timestamp may be. */
  windowMs: number;
  /** Tolerated clock skew into the future. */
  futureSkewMs: number;
}

export type RegistryChange =
  | {
      type: 'meter-registered';
      meter: MeterState & {
        epoch: MeterRegisterBody['epoch'];
        owner: MeterRegisterBody['owner'];
        location?: string;
      };
    }
  | { type: 'meter-activated'; id: string; alpha: Uint8Array; verificationKey: Uint8Array }
  | { type: 'meter-revoked'; id: string; reason: string }
  | { type: 'receiver-registered'; receiver: ReceiverState; encryptionKey: Uint8Array }
  | { type: 'receiver-activated'; id: string; alpha: Uint8Array }
  | { type: 'receiver-revoked'; id: string; reason: string }
  | { type: 'delegate-registered'; delegate: DelegateState; publicKey: Uint8Array }
  | { type: 'delegate-revoked'; id: string; reason: string }
  | { type: 'ballot-cast'; organisation: string; approves: string[] }
  /** A transaction the chain records without changing the registry (a contract's result). */
  | { type: 'contract-result'; organisation: string; result: ContractResultBody }
  | { type: 'receiver-publication'; organisation: string; publication: ReceiverPublicationBody }
  | { type: 'contract-deployed'; receiverId: string; contract: ContractDocument; hash: string };

/** Only the organisation that registered a receiver speaks for it, and only while it is active. */
async function ownActiveReceiver(
  view: RegistryView,
  sender: string,
  kind: string,
  receiverId: string,
): Promise<void> {
  const receiver = await view.receiver(receiverId);
  if (!receiver || receiver.organisation !== sender) {
    throw RegistryErrors.notAllowed(sender, kind, `the organisation of receiver ${receiverId}`);
  }
  if (receiver.status !== 'active') {
    throw RegistryErrors.revoked('receiver', receiverId);
  }
}

/** Checks the envelope: chain, sender, role, time window, signature. */
export async function checkEnvelope(
  tx: Transaction,
  view: RegistryView,
  ctx: RegistryContext,
): Promise<OrganisationState> {
  if (tx.fields.chainId !== ctx.chainId) {
    throw RegistryErrors.wrongChain(tx.fields.chainId, ctx.chainId);
  }
  if (tx.timestamp < ctx.now - ctx.windowMs) {
    throw RegistryErrors.stale(tx.timestamp, ctx.windowMs);
  }
  if (tx.timestamp > ctx.now + ctx.futureSkewMs) {
    throw RegistryErrors.future(tx.timestamp);
  }
  const sender = tx.sender.startsWith(OWNER_SENDER_PREFIX)
    ? await ownerOf(tx.sender, view)
    : await view.organisation(tx.sender);
  if (!sender) {
    throw RegistryErrors.unknownSender(tx.sender);
  }
  const key = `sig:${tx.hashHex}:${Buffer.from(sender.publicKey.bytes).toString('hex')}`;
  if (!checked.has(key)) {
    if (!tx.verifySignature(sender.publicKey)) {
      throw RegistryErrors.badSignature(tx.sender);
    }
    memo(key, () => EMPTY);
  }
  return sender;
}

/** The owner of a registered, not revoked meter that has an owner key, as a sender. */
async function ownerOf(senderId: string, view: RegistryView): Promise<OrganisationState | undefined> {
  const meter = await view.meter(senderId.slice(OWNER_SENDER_PREFIX.length));
  const key = meter?.owner?.publicKey;
  if (!meter || meter.status === 'revoked' || !key) {
    return undefined;
  }
  return {
    id: senderId,
    name: meter.owner!.name,
    roles: [OWNER_ROLE],
    // Checked in full when the meter was registered.
    publicKey: BlsPublicKey.fromTrustedBytes(fromHex(key, 'owner key', 48)),
    stake: 0n,
  };
}

export async function decideRegistryTransaction(
  tx: Transaction,
  view: RegistryView,
  ctx: RegistryContext,
): Promise<RegistryChange> {
  const kind = tx.kind;
  if (!isRegistryKind(kind)) {
    throw RegistryErrors.invalidBody(kind, 'not a registry transaction');
  }
  const sender = await checkEnvelope(tx, view, ctx);
  const role = REQUIRED_ROLE[kind];
  const isOwner = sender.roles.includes(OWNER_ROLE);
  if (isOwner ? kind !== 'contract.deploy' : role !== 'member' && !sender.roles.includes(role)) {
    throw RegistryErrors.notAllowed(sender.id, kind, isOwner ? 'an organisation' : role);
  }
  const checked = parseRegistryBody(kind, tx.body);
  if (!checked.success) {
    throw RegistryErrors.invalidBody(
      kind,
      checked.error.issues.map((i) => `${i.path.join('.') || 'body'} ${i.message}`).join('; '),
    );
  }
  const { parsed } = checked;
  switch (parsed.kind) {
    case 'meter.register':
      return registerMeter(parsed.body, sender, view);
    case 'meter.revoke': {
      const { meterId, reason } = parsed.body;
      const meter = await view.meter(meterId);
      if (!meter) {
        throw RegistryErrors.unknown('meter', meterId);
      }
      // Like a receiver: its registrar or the control center, not any other meter registrar.
      if (meter.registrar !== sender.id && !sender.roles.includes('control-center')) {
        throw RegistryErrors.notYours(sender.id, 'meter', meterId);
      }
      if (meter.status === 'revoked') {
        throw RegistryErrors.revoked('meter', meterId);
      }
      return { type: 'meter-revoked', id: meterId, reason };
    }
    case 'receiver.register': {
      const { receiverId, role: receiverRole, publicKey, possession } = parsed.body;
      if (await view.receiver(receiverId)) {
        throw RegistryErrors.alreadyRegistered('receiver', receiverId);
      }
      const keyBytes = checkPossession(`receiver ${receiverId}`, publicKey, possession);
      let encryptionKey: Uint8Array;
      try {
        encryptionKey = ReceiverPublicKey.register(ctx.params, {
          id: receiverId,
          publicKey: keyBytes,
        }).toBytes();
      } catch (error) {
        throw RegistryErrors.badKey(`receiver ${receiverId}`, (error as Error).message);
      }
      return {
        type: 'receiver-registered',
        receiver: {
          id: receiverId,
          organisation: sender.id,
          role: receiverRole,
          publicKey: keyBytes,
          status: 'registered',
        },
        encryptionKey,
      };
    }
    case 'receiver.revoke': {
      const { receiverId, reason } = parsed.body;
      const receiver = await view.receiver(receiverId);
      if (!receiver) {
        throw RegistryErrors.unknown('receiver', receiverId);
      }
      if (receiver.organisation !== sender.id && !sender.roles.includes('control-center')) {
        throw RegistryErrors.notYours(sender.id, 'receiver', receiverId);
      }
      if (receiver.status === 'revoked') {
        throw RegistryErrors.revoked('receiver', receiverId);
      }
      return { type: 'receiver-revoked', id: receiverId, reason };
    }
    case 'delegate.register': {
      const { delegateId, publicKey, possession } = parsed.body;
      if (await view.delegate(delegateId)) {
        throw RegistryErrors.alreadyRegistered('delegate', delegateId);
      }
      const keyBytes = checkPossession(`delegate ${delegateId}`, publicKey, possession);
      return {
        type: 'delegate-registered',
        delegate: { id: delegateId, organisation: sender.id, status: 'active' },
        publicKey: keyBytes,
      };
    }
    case 'delegate.revoke': {
      const { delegateId, reason } = parsed.body;
      const delegate = await view.delegate(delegateId);
      if (!delegate) {
        throw RegistryErrors.unknown('delegate', delegateId);
      }
      if (delegate.organisation !== sender.id) {
        throw RegistryErrors.notYours(sender.id, 'delegate', delegateId);
      }
      if (delegate.status === 'revoked') {
        throw RegistryErrors.revoked('delegate', delegateId);
      }
      return { type: 'delegate-revoked', id: delegateId, reason };
    }
    case 'contract.deploy': {
      const { receiverId, contract: document } = parsed.body;
      if (!isOwner) {
        await ownActiveReceiver(view, sender.id, kind, receiverId);
      }
      let compiled;
      try {
        compiled = compileContract(document);
      } catch (error) {
        throw RegistryErrors.invalidBody(kind, `the contract does not compile: ${(error as Error).message}`);
      }
      const contract = compiled.contract;
      if (isOwner) {
        await checkOwnerContract(view, sender.id, receiverId, contract);
      }
      if (contract.owner !== sender.id) {
        throw RegistryErrors.notAllowed(
          sender.id,
          kind,
          `the owner named in the contract (${contract.owner})`,
        );
      }
      const latest = await view.contract(sender.id, contract.id);
      if (latest && contract.version <= latest.version) {
        throw RegistryErrors.invalidBody(
          kind,
          `version ${contract.version} of ${contract.id} is not above the deployed version ${latest.version}`,
        );
      }
      // (id, version) names one document: a receiver runs a shipped contract under its id and version
      // until one is deployed, so a deployment of that id starts above the shipped version.
      const shipped = shippedContractVersion(contract.id);
      if (shipped !== undefined && contract.version <= shipped) {
        throw RegistryErrors.invalidBody(
          kind,
          `version ${contract.version} of ${contract.id} is not above the version ${shipped} shipped with the code ` +
            `(a shipped contract's id and version name the shipped document; deploy version ${shipped + 1} or above)`,
        );
      }
      return { type: 'contract-deployed', receiverId, contract, hash: compiled.hash };
    }
    case 'receiver.publication': {
      const publication = parsed.body;
      await ownActiveReceiver(view, sender.id, kind, publication.receiverId);
      return { type: 'receiver-publication', organisation: sender.id, publication };
    }
    case 'contract.result': {
      const result = parsed.body;
      await ownActiveReceiver(view, sender.id, kind, result.receiverId);
      // A result names up to a few hundred meters: read them together, not one query each.
      const meters = await view.meters(result.results.map((entry) => entry.meterId));
      const unknown = result.results.find((entry) => !meters.has(entry.meterId));
      if (unknown) {
        throw RegistryErrors.unknown('meter', unknown.meterId);
      }
      // A receiver runs its organisation's contracts and the device contracts of a meter's owner.
      const foreign = result.results.find(
        (entry) =>
          entry.contractOwner !== undefined &&
          entry.contractOwner !== sender.id &&
          entry.contractOwner !== `${OWNER_SENDER_PREFIX}${entry.meterId}`,
      );
      if (foreign) {
        throw RegistryErrors.invalidBody(
          kind,
          `the result for ${foreign.meterId} names contract ${foreign.contractId} of ${foreign.contractOwner}, ` +
            `which is neither ${sender.id}'s nor the meter's owner's`,
        );
      }
      return { type: 'contract-result', organisation: sender.id, result };
    }
    case 'vote': {
      const { approves } = parsed.body;
      for (const id of approves) {
        const delegate = await view.delegate(id);
        if (!delegate) {
          throw RegistryErrors.unknown('delegate', id);
        }
        if (delegate.status === 'revoked') {
          throw RegistryErrors.revoked('delegate', id);
        }
      }
      return { type: 'ballot-cast', organisation: sender.id, approves: [...approves].sort() };
    }
    case 'cc.partial-key': {
      const { subject, identity, alpha } = parsed.body;
      const alphaBytes = fromHex(alpha, 'alpha', 48);
      if (subject === 'meter') {
        const meter = await view.meter(identity);
        if (!meter) {
          throw RegistryErrors.unknown('meter', identity);
        }
        if (meter.status === 'revoked') {
          throw RegistryErrors.revoked('meter', identity);
        }
        if (meter.status === 'active') {
          throw RegistryErrors.alreadyActive('meter', identity);
        }
        let verificationKey: Uint8Array;
        try {
          verificationKey = RegisteredMeter.register(ctx.params, {
            id: identity,
            publicKey: meter.publicKey,
            alpha: alphaBytes,
          }).toBytes();
        } catch (error) {
          throw RegistryErrors.badKey(`alpha for meter ${identity}`, (error as Error).message);
        }
        return { type: 'meter-activated', id: identity, alpha: alphaBytes, verificationKey };
      }
      const receiver = await view.receiver(identity);
      if (!receiver) {
        throw RegistryErrors.unknown('receiver', identity);
      }
      if (receiver.status === 'revoked') {
        throw RegistryErrors.revoked('receiver', identity);
      }
      if (receiver.status === 'active') {
        throw RegistryErrors.alreadyActive('receiver', identity);
      }
      try {
        RegisteredMeter.register(ctx.params, {
          id: identity,
          publicKey: receiver.publicKey,
          alpha: alphaBytes,
        });
      } catch (error) {
        throw RegistryErrors.badKey(`alpha for receiver ${identity}`, (error as Error).message);
      }
      return { type: 'receiver-activated', id: identity, alpha: alphaBytes };
    }
  }
}

async function registerMeter(
  body: MeterRegisterBody,
  sender: OrganisationState,
  view: RegistryView,
): Promise<RegistryChange> {
  if (await view.meter(body.meterId)) {
    throw RegistryErrors.alreadyRegistered('meter', body.meterId);
  }
  const keyBytes = checkPossession(`meter ${body.meterId}`, body.publicKey, body.possession);
  if (body.owner.publicKey) {
    try {
      BlsPublicKey.fromBytes(fromHex(body.owner.publicKey, 'owner key', 48));
    } catch (error) {
      if (error instanceof CryptoError) {
        throw RegistryErrors.badKey(`the owner of meter ${body.meterId}`, error.message);
      }
      throw error;
    }
  }
  const dimensions = new Set(body.dimensions);
  if (dimensions.size !== body.dimensions.length) {
    throw RegistryErrors.badPolicy('a dimension is named twice');
  }
  const receivers = new Set<string>();
  for (const entry of body.policy) {
    if (receivers.has(entry.receiver)) {
      throw RegistryErrors.badPolicy(`receiver ${entry.receiver} appears twice in the sharing policy`);
    }
    receivers.add(entry.receiver);
    const receiver = await view.receiver(entry.receiver);
    if (!receiver) {
      throw RegistryErrors.badPolicy(
        `the sharing policy names receiver ${entry.receiver}, which is not registered`,
      );
    }
    if (receiver.status !== 'active') {
      throw RegistryErrors.badPolicy(`receiver ${entry.receiver} is ${receiver.status}, not active`);
    }
    const own = new Set(entry.dimensions);
    if (own.size !== entry.dimensions.length) {
      throw RegistryErrors.badPolicy(`receiver ${entry.receiver} gets a dimension twice`);
    }
    for (const dimension of entry.dimensions) {
      if (!dimensions.has(dimension)) {
        throw RegistryErrors.badPolicy(
          `receiver ${entry.receiver} gets "${dimension}", which the meter does not measure`,
        );
      }
    }
  }
  return {
    type: 'meter-registered',
    meter: {
      id: body.meterId,
      registrar: sender.id,
      publicKey: keyBytes,
      status: 'registered',
      dimensions: body.dimensions,
      policy: body.policy,
      epoch: body.epoch,
      owner: body.owner,
      location: body.location,
    },
  };
}

/**
 * An owner's contract (paper III.F) is a device contract for its own meter alone, run by a receiver
 * that gets that meter's data (in its sharing policy) and is active.
 */
async function checkOwnerContract(
  view: RegistryView,
  senderId: string,
  receiverId: string,
  contract: { kind: string; appliesTo: { scope: string; meters?: readonly string[] } },
): Promise<void> {
  const meterId = senderId.slice(OWNER_SENDER_PREFIX.length);
  const kind = 'contract.deploy';
  if (contract.kind !== 'device') {
    throw RegistryErrors.notAllowed(senderId, kind, `an organisation (a ${contract.kind} contract)`);
  }
  const scope = contract.appliesTo;
  if (scope.scope !== 'meters' || scope.meters?.length !== 1 || scope.meters[0] !== meterId) {
    throw RegistryErrors.invalidBody(kind, `an owner's contract applies to its own meter ${meterId} only`);
  }
  const meter = await view.meter(meterId);
  if (!meter?.policy.some((entry) => entry.receiver === receiverId)) {
    throw RegistryErrors.invalidBody(
      kind,
      `receiver ${receiverId} does not get ${meterId}'s data, so it cannot run a contract on it`,
    );
  }
  const receiver = await view.receiver(receiverId);
  if (!receiver || receiver.status !== 'active') {
    throw RegistryErrors.invalidBody(kind, `receiver ${receiverId} is not active`);
  }
}

/**
 * The rules' cryptographic checks depend only on their inputs, and the same transaction is decided
 * several times (mempool admission, block selection, block validation): remember the outcomes
 * (bounded), so a pairing runs once per key.
 */
const checked = new Map<string, Uint8Array | Error>();
const EMPTY = new Uint8Array(0);
const CHECKED_MAX = 100_000;

function memo(key: string, compute: () => Uint8Array): Uint8Array {
  let hit = checked.get(key);
  if (hit === undefined) {
    try {
      hit = compute();
    } catch (error) {
      hit = error as Error;
    }
    if (checked.size >= CHECKED_MAX) {
      checked.delete(checked.keys().next().value!);
    }
    checked.set(key, hit);
  }
  if (hit instanceof Error) {
    throw hit;
  }
  return hit;
}

/** Decodes a G1 public key (curve, subgroup, identity) and checks its BLS proof of possession. */
function checkPossession(what: string, publicKeyHex: string, possessionHex: string): Uint8Array {
  return memo(`pop:${what}:${publicKeyHex}:${possessionHex}`, () =>
    possessionChecked(what, publicKeyHex, possessionHex),
  );
}

function possessionChecked(what: string, publicKeyHex: string, possessionHex: string): Uint8Array {
  const keyBytes = fromHex(publicKeyHex, `${what} public key`, 48);
  let ok: boolean;
  try {
    ok = blsVerifyPossession(BlsPublicKey.fromBytes(keyBytes), fromHex(possessionHex, 'possession', 96));
  } catch (error) {
    if (error instanceof CryptoError) {
      throw RegistryErrors.badKey(what, error.message);
    }
    throw error;
  }
  if (!ok) {
    throw RegistryErrors.badKey(what, 'the proof of possession does not match the public key');
  }
  return keyBytes;
}
