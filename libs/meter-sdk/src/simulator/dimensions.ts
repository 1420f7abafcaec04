/**
 * The standard reading (v = 10) and the sharing policies that split it among the three standard
 * receivers of the paper (section V): the control center, the grid operator and the equipment supplier.
 */

/** The ten dimensions of a standard reading, in this order (v = 10). */
export const STANDARD_DIMENSIONS = [
  'consumption_kwh',
  'voltage_a',
  'voltage_b',
  'voltage_c',
  'current_a',
  'current_b',
  'current_c',
  'temperature_c',
  'humidity_pct',
  'device_status',
] as const;

export type StandardDimension = (typeof STANDARD_DIMENSIONS)[number];

/**
 * One interval's reading. Units: kWh drawn in the interval; volts phase-to-neutral (RMS averaged over
 * the interval); amperes (RMS averaged); degrees Celsius and relative humidity (%) in the meter's
 * enclosure; device_status as "normal" or "<state>:<code>" (see device-status.ts).
 */
export type StandardReading = {
  consumption_kwh: number;
  voltage_a: number;
  voltage_b: number;
  voltage_c: number;
  current_a: number;
  current_b: number;
  current_c: number;
  temperature_c: number;
  humidity_pct: number;
  device_status: string;
};

export interface ShareRule {
  receiver: string;
  dimensions: StandardDimension[];
}

export interface StandardReceivers {
  controlCenter: string;
  gridOperator: string;
  equipmentSupplier: string;
}

/** The variants standardPolicies returns, in its order. */
export const STANDARD_POLICY_VARIANTS = [
  /** CC: consumption and three-phase V/I; operator: consumption; supplier: status, climate, voltages. */
  'standard',
  /** As standard, and the CC also sees device_status (it recovers data after outages, V.A). */
  'cc-sees-status',
  /** No equipment supplier on this meter (a customer-owned meter outside any service contract). */
  'no-supplier',
  /** As standard, and the supplier also sees the currents (to tell a lost phase from a failing sensor). */
  'supplier-sees-currents',
] as const;

export type StandardPolicyVariant = (typeof STANDARD_POLICY_VARIANTS)[number];

const PHASE_VOLTAGES: StandardDimension[] = ['voltage_a', 'voltage_b', 'voltage_c'];
const PHASE_CURRENTS: StandardDimension[] = ['current_a', 'current_b', 'current_c'];

/** One variant's sharing policy: which dimensions each receiver gets. */
export function standardPolicy(receivers: StandardReceivers, variant: StandardPolicyVariant): ShareRule[] {
  const controlCenter: ShareRule = {
    receiver: receivers.controlCenter,
    // Anti-theft compares the energy against V*I on each phase ("high supply, low meter").
    dimensions: ['consumption_kwh', ...PHASE_VOLTAGES, ...PHASE_CURRENTS],
  };
  // Billing and load balancing need the energy and nothing else.
  const gridOperator: ShareRule = { receiver: receivers.gridOperator, dimensions: ['consumption_kwh'] };
  const equipmentSupplier: ShareRule = {
    receiver: receivers.equipmentSupplier,
    // Fault analysis: the state, the conditions that wear a device out, and the supply quality.
    dimensions: ['device_status', 'temperature_c', 'humidity_pct', ...PHASE_VOLTAGES],
  };
  switch (variant) {
    case 'standard':
      return [controlCenter, gridOperator, equipmentSupplier];
    case 'cc-sees-status':
      return [
        { ...controlCenter, dimensions: [...controlCenter.dimensions, 'device_status'] },
        gridOperator,
        equipmentSupplier,
      ];
    case 'no-supplier':
      return [controlCenter, gridOperator];
    case 'supplier-sees-currents':
      return [
        controlCenter,
        gridOperator,
        { ...equipmentSupplier, dimensions: [...equipmentSupplier.dimensions, ...PHASE_CURRENTS] },
      ];
  }
}

/**
 * Every variant, in STANDARD_POLICY_VARIANTS order, so that a test can give meter i the policy
 * `policies[i % policies.length]` and register a fleet "with different sharing policies".
 */
export function standardPolicies(receivers: StandardReceivers): ShareRule[][] {
  return STANDARD_POLICY_VARIANTS.map((variant) => standardPolicy(receivers, variant));
}
