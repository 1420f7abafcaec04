import {
  contractKey,
  type ContractState,
  type DelegateState,
  type MeterState,
  type OrganisationState,
  type ReceiverState,
  type RegistryChange,
  type RegistryView,
} from './registry-rules';

/**
 * The transaction kinds whose change lays nothing over the state (apply() below ignores ballot-cast,
 * contract-result and receiver-publication): no later decision depends on them, so a pending state
 * built from the mempool can leave them out.
 */
export const KINDS_LAYING_NOTHING: ReadonlySet<string> = new Set([
  'vote',
  'contract.result',
  'receiver.publication',
]);

/**
 * A view of the registry with changes that are not final yet laid over it: the changes of candidate
 * blocks and of the mempool, in order. The rules decide a transaction against the state it would
 * meet in its block, which is the final state plus every earlier change of that block's chain.
 */
export class RegistryOverlay implements RegistryView {
  private readonly laidMeters = new Map<string, MeterState>();
  private readonly laidReceivers = new Map<string, ReceiverState>();
  private readonly laidDelegates = new Map<string, DelegateState>();
  private readonly laidContracts = new Map<string, ContractState>();

  constructor(private readonly base: RegistryView) {}

  organisation(id: string): Promise<OrganisationState | undefined> {
    // Organisations come from the genesis document only.
    return this.base.organisation(id);
  }

  async meter(id: string): Promise<MeterState | undefined> {
    return this.laidMeters.get(id) ?? (await this.base.meter(id));
  }

  async meters(ids: readonly string[]): Promise<Map<string, MeterState>> {
    const found = new Map<string, MeterState>();
    const missing: string[] = [];
    for (const id of new Set(ids)) {
      const laid = this.laidMeters.get(id);
      if (laid) {
        found.set(id, laid);
      } else {
        missing.push(id);
      }
    }
    if (missing.length > 0) {
      for (const [id, meter] of await this.base.meters(missing)) {
        found.set(id, meter);
      }
    }
    return found;
  }

  async receiver(id: string): Promise<ReceiverState | undefined> {
    return this.laidReceivers.get(id) ?? (await this.base.receiver(id));
  }

  async delegate(id: string): Promise<DelegateState | undefined> {
    return this.laidDelegates.get(id) ?? (await this.base.delegate(id));
  }

  async contract(owner: string, id: string): Promise<ContractState | undefined> {
    return this.laidContracts.get(contractKey(owner, id)) ?? (await this.base.contract(owner, id));
  }

  /** Lays one decided change over the view. */
  async apply(change: RegistryChange): Promise<void> {
    switch (change.type) {
      case 'meter-registered':
        this.laidMeters.set(change.meter.id, { ...change.meter });
        return;
      case 'meter-activated': {
        const meter = await this.meter(change.id);
        if (meter) {
          this.laidMeters.set(change.id, {
            ...meter,
            status: 'active',
            verificationKey: change.verificationKey,
          });
        }
        return;
      }
      case 'meter-revoked': {
        const meter = await this.meter(change.id);
        if (meter) {
          this.laidMeters.set(change.id, { ...meter, status: 'revoked' });
        }
        return;
      }
      case 'receiver-registered':
        this.laidReceivers.set(change.receiver.id, { ...change.receiver });
        return;
      case 'receiver-activated':
      case 'receiver-revoked': {
        const receiver = await this.receiver(change.id);
        if (receiver) {
          this.laidReceivers.set(change.id, {
            ...receiver,
            status: change.type === 'receiver-activated' ? 'active' : 'revoked',
          });
        }
        return;
      }
      case 'delegate-registered':
        this.laidDelegates.set(change.delegate.id, { ...change.delegate });
        return;
      case 'delegate-revoked': {
        const delegate = await this.delegate(change.id);
        if (delegate) {
          this.laidDelegates.set(change.id, { ...delegate, status: 'revoked' });
        }
        return;
      }
      case 'contract-deployed': {
        const { id, version, owner } = change.contract;
        this.laidContracts.set(contractKey(owner, id), { id, version, owner });
        return;
      }
      case 'ballot-cast':
      case 'contract-result':
      case 'receiver-publication':
        return; // nothing a later transaction of the block depends on
    }
  }
}
