import type {
  ContractState,
  DelegateState,
  MeterState,
  OrganisationState,
  ReceiverState,
  RegistryChange,
  RegistryView,
} from './registry-rules';

/**
 * A view of the registry with changes that are not final yet laid over it: the changes of candidate
 * blocks and of the mempool, in order. The rules decide a transaction against the state it would
 * meet in its block, which is the final state plus every earlier change of that block's chain.
 */
export class RegistryOverlay implements RegistryView {
  private readonly meters = new Map<string, MeterState>();
  private readonly receivers = new Map<string, ReceiverState>();
  private readonly delegates = new Map<string, DelegateState>();
  private readonly contracts = new Map<string, ContractState>();

  constructor(private readonly base: RegistryView) {}

  organisation(id: string): Promise<OrganisationState | undefined> {
    // Organisations come from the genesis document only.
    return this.base.organisation(id);
  }

  async meter(id: string): Promise<MeterState | undefined> {
    return this.meters.get(id) ?? (await this.base.meter(id));
  }

  async receiver(id: string): Promise<ReceiverState | undefined> {
    return this.receivers.get(id) ?? (await this.base.receiver(id));
  }

  async delegate(id: string): Promise<DelegateState | undefined> {
    return this.delegates.get(id) ?? (await this.base.delegate(id));
  }

  async contract(id: string): Promise<ContractState | undefined> {
    return this.contracts.get(id) ?? (await this.base.contract(id));
  }

  /** Lays one decided change over the view. */
  async apply(change: RegistryChange): Promise<void> {
    switch (change.type) {
      case 'meter-registered':
        this.meters.set(change.meter.id, { ...change.meter });
        return;
      case 'meter-activated': {
        const meter = await this.meter(change.id);
        if (meter) {
          this.meters.set(change.id, { ...meter, status: 'active', verificationKey: change.verificationKey });
        }
        return;
      }
      case 'meter-revoked': {
        const meter = await this.meter(change.id);
        if (meter) {
          this.meters.set(change.id, { ...meter, status: 'revoked' });
        }
        return;
      }
      case 'receiver-registered':
        this.receivers.set(change.receiver.id, { ...change.receiver });
        return;
      case 'receiver-activated':
      case 'receiver-revoked': {
        const receiver = await this.receiver(change.id);
        if (receiver) {
          this.receivers.set(change.id, {
            ...receiver,
            status: change.type === 'receiver-activated' ? 'active' : 'revoked',
          });
        }
        return;
      }
      case 'delegate-registered':
        this.delegates.set(change.delegate.id, { ...change.delegate });
        return;
      case 'delegate-revoked': {
        const delegate = await this.delegate(change.id);
        if (delegate) {
          this.delegates.set(change.id, { ...delegate, status: 'revoked' });
        }
        return;
      }
      case 'contract-deployed': {
        const { id, version, owner } = change.contract;
        this.contracts.set(id, { id, version, owner });
        return;
      }
      case 'ballot-cast':
      case 'contract-result':
      case 'receiver-publication':
        return; // nothing a later transaction of the block depends on
    }
  }
}
