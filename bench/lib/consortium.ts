import type { OrganisationSpec } from '@app/control-center';
import type { MeterSpec } from '@app/devnet';
import { type FleetSimulator, STANDARD_DIMENSIONS, standardPolicies } from '@app/meter-sdk';

/**
 * The multi-node consortium the chain benchmark and the soak run: three organisations (the grid
 * operator also runs delegates), the three standard receivers and who registers each.
 */
export const CONSORTIUM_RECEIVERS = {
  controlCenter: 'cc-analytics',
  gridOperator: 'operator-billing',
  equipmentSupplier: 'supplier-maintenance',
};

export const CONSORTIUM_RECEIVER_OWNERS = {
  controlCenter: 'control-center',
  gridOperator: 'grid-operator',
  equipmentSupplier: 'equipment-supplier',
} as const;

export const CONSORTIUM_ORGANISATIONS: OrganisationSpec[] = [
  { id: 'control-center', name: 'CC', roles: ['control-center', 'meter-registrar', 'receiver'], stake: 100 },
  {
    id: 'grid-operator',
    name: 'Operator',
    roles: ['grid-operator', 'meter-registrar', 'receiver', 'delegate-operator'],
    stake: 60,
  },
  { id: 'equipment-supplier', name: 'Supplier', roles: ['equipment-supplier', 'receiver'], stake: 20 },
];

/** The simulator's meters as the grid operator registers them, the standard policies in turn. */
export function fleetSpecs(simulator: FleetSimulator, notifyUrl: string): MeterSpec[] {
  const policies = standardPolicies(CONSORTIUM_RECEIVERS);
  return simulator.meters.map((m, i) => ({
    meterId: m.meterId,
    registrar: 'grid-operator',
    dimensions: STANDARD_DIMENSIONS,
    policy: policies[i % policies.length]!,
    epoch: { maxReports: 96, maxAgeMs: 24 * 3_600_000 },
    owner: { name: `owner ${i}`, notifyUrl },
  }));
}
