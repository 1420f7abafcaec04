import {
  STANDARD_DIMENSIONS,
  STANDARD_POLICY_VARIANTS,
  standardPolicies,
  standardPolicy,
} from './dimensions';

const receivers = { controlCenter: 'cc-1', gridOperator: 'go-1', equipmentSupplier: 'es-1' };

describe('standard dimensions and sharing policies', () => {
  it('given the standard reading, when its dimensions are listed, should be the ten of the spec in order', () => {
    expect(STANDARD_DIMENSIONS).toHaveLength(10);
    expect(STANDARD_DIMENSIONS[0]).toBe('consumption_kwh');
    expect(STANDARD_DIMENSIONS[9]).toBe('device_status');
    expect(new Set(STANDARD_DIMENSIONS).size).toBe(10);
    // The registry's rule for dimension names.
    for (const name of STANDARD_DIMENSIONS) {
      expect(name).toMatch(/^[a-z][a-z0-9_]{0,62}$/);
    }
  });

  it('given the three receivers, when the standard policy is built, should give each exactly its share', () => {
    const [cc, operator, supplier] = standardPolicy(receivers, 'standard');
    expect(cc).toEqual({
      receiver: 'cc-1',
      dimensions: [
        'consumption_kwh',
        'voltage_a',
        'voltage_b',
        'voltage_c',
        'current_a',
        'current_b',
        'current_c',
      ],
    });
    expect(operator).toEqual({ receiver: 'go-1', dimensions: ['consumption_kwh'] });
    expect(supplier?.receiver).toBe('es-1');
    expect([...(supplier?.dimensions ?? [])].sort()).toEqual(
      ['device_status', 'humidity_pct', 'temperature_c', 'voltage_a', 'voltage_b', 'voltage_c'].sort(),
    );
  });

  it('given the receivers, when every variant is built, should give distinct valid policies in the listed order', () => {
    const policies = standardPolicies(receivers);
    expect(policies).toHaveLength(STANDARD_POLICY_VARIANTS.length);
    const known = new Set<string>(STANDARD_DIMENSIONS);
    for (const policy of policies) {
      const ids = policy.map((rule) => rule.receiver);
      expect(new Set(ids).size).toBe(ids.length);
      for (const rule of policy) {
        expect(rule.dimensions.length).toBeGreaterThan(0);
        expect(new Set(rule.dimensions).size).toBe(rule.dimensions.length);
        expect(rule.dimensions.every((d) => known.has(d))).toBe(true);
      }
    }
    expect(new Set(policies.map((p) => JSON.stringify(p))).size).toBe(policies.length);
    expect(policies[1]?.[0]?.dimensions).toContain('device_status');
    expect(policies[2]?.map((rule) => rule.receiver)).toEqual(['cc-1', 'go-1']);
    expect(policies[3]?.[2]?.dimensions).toEqual(
      expect.arrayContaining(['current_a', 'current_b', 'current_c']),
    );
  });

  it('given a built policy, when the caller changes it, should not change the next one built', () => {
    const first = standardPolicy(receivers, 'cc-sees-status');
    first[0]?.dimensions.push('humidity_pct');
    expect(standardPolicy(receivers, 'cc-sees-status')[0]?.dimensions).not.toContain('humidity_pct');
    expect(standardPolicy(receivers, 'standard')[0]?.dimensions).not.toContain('device_status');
  });
});
