import { DomainEvent, JournalEvent } from '@app/event-store';

/** Journal events of the registry. Binary values are lower-case hex; `tx` is the transaction's hash. */

export interface OrganisationAdmitted {
  organisationId: string;
  name: string;
  roles: string[];
  publicKey: string;
  stake: string;
}

export interface MeterRegistered {
  meterId: string;
  registrar: string;
  publicKey: string;
  dimensions: string[];
  policy: Array<{ receiver: string; dimensions: string[] }>;
  epoch: { maxReports: number; maxAgeMs: number };
  owner: { name: string; notifyUrl: string };
  location?: string;
  tx: string;
}

export interface IdentityActivated {
  id: string;
  alpha: string;
  tx: string;
}

export interface IdentityRevoked {
  id: string;
  reason: string;
  tx: string;
}

export interface ReceiverRegistered {
  receiverId: string;
  organisation: string;
  role: string;
  publicKey: string;
  tx: string;
}

export interface DelegateRegistered {
  delegateId: string;
  organisation: string;
  publicKey: string;
  tx?: string;
}

export interface BallotCast {
  organisation: string;
  approves: string[];
  tx: string;
}

@DomainEvent('registry.ballot-cast', 1)
export class BallotCastEvent extends JournalEvent<BallotCast> {}

/** A contract's result recorded on the chain (the meter's stream: its history of regulation). */
export interface ContractResultRecorded {
  organisation: string;
  receiverId: string;
  contractId: string;
  contractVersion: number;
  trigger: string;
  resultHash: string;
  actions: Array<{ id: string; type: string }>;
  tx: string;
}

@DomainEvent('contract.result-recorded', 1)
export class ContractResultRecordedEvent extends JournalEvent<ContractResultRecorded> {}

/** A contract version deployed on the chain (the contract's stream). */
export interface ContractDeployed {
  id: string;
  version: number;
  owner: string;
  receiverId: string;
  hash: string;
  tx: string;
}

@DomainEvent('contract.deployed', 1)
export class ContractDeployedEvent extends JournalEvent<ContractDeployed> {}

/** A receiver's processed results published on the chain (the receiver's stream). */
export interface ReceiverPublished {
  organisation: string;
  receiverId: string;
  subject: string;
  from: number;
  to: number;
  contentHash: string;
  tx: string;
}

@DomainEvent('receiver.published', 1)
export class ReceiverPublishedEvent extends JournalEvent<ReceiverPublished> {}

@DomainEvent('registry.organisation-admitted', 1)
export class OrganisationAdmittedEvent extends JournalEvent<OrganisationAdmitted> {}

@DomainEvent('registry.meter-registered', 1)
export class MeterRegisteredEvent extends JournalEvent<MeterRegistered> {}

@DomainEvent('registry.meter-activated', 1)
export class MeterActivatedEvent extends JournalEvent<IdentityActivated> {}

@DomainEvent('registry.meter-revoked', 1)
export class MeterRevokedEvent extends JournalEvent<IdentityRevoked> {}

@DomainEvent('registry.receiver-registered', 1)
export class ReceiverRegisteredEvent extends JournalEvent<ReceiverRegistered> {}

@DomainEvent('registry.receiver-activated', 1)
export class ReceiverActivatedEvent extends JournalEvent<IdentityActivated> {}

@DomainEvent('registry.receiver-revoked', 1)
export class ReceiverRevokedEvent extends JournalEvent<IdentityRevoked> {}

@DomainEvent('registry.delegate-registered', 1)
export class DelegateRegisteredEvent extends JournalEvent<DelegateRegistered> {}

@DomainEvent('registry.delegate-revoked', 1)
export class DelegateRevokedEvent extends JournalEvent<IdentityRevoked> {}

export const streamOf = {
  organisation: (id: string) => `organisation-${id}`,
  meter: (id: string) => `meter-${id}`,
  receiver: (id: string) => `receiver-${id}`,
  delegate: (id: string) => `delegate-${id}`,
};
