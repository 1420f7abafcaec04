import { instantiateContract, WATER_HEATER_CONTRACT_EXAMPLE } from './builtin-contracts';
import { compileContract } from './contract-compiler';

/** A meter owner's own device contract (paper III.F). */

const contract = compileContract(
  instantiateContract(WATER_HEATER_CONTRACT_EXAMPLE, {
    owner: 'owner-7',
    id: 'owner-7/water-heater',
    appliesTo: { scope: 'meters', meters: ['meter-00007'] },
  }),
);

function heater(input: Record<string, unknown>) {
  const fn = contract.evaluate('meter-00007', input, 'price:2026-11-26T18:00').result.functions[0];
  if (!fn) {
    throw new Error('the contract has no function');
  }
  return fn;
}

describe('water heater device contract', () => {
  it('given a price above 0.30, when evaluated, should switch the water heater off', () => {
    const fn = heater({ latest_price: 0.34, meter_value: 0.6 });
    expect(fn.rule).toBe('expensive');
    expect(fn.actions[0]).toMatchObject({
      type: 'device-off',
      device: 'water-heater',
      params: { price: 0.34 },
    });
  });

  it('given a house drawing over 10 kW at a middling price, when evaluated, should switch the heater off', () => {
    expect(heater({ latest_price: 0.2, meter_value: 2.6 }).rule).toBe('expensive');
  });

  it('given a cheap price, when evaluated, should switch the heater on', () => {
    const fn = heater({ latest_price: 0.12, meter_value: 0.4 });
    expect(fn.rule).toBe('cheap');
    expect(fn.actions[0]).toMatchObject({ type: 'device-on', device: 'water-heater' });
  });

  it('given a middling price and load, when evaluated, should leave the heater as it is', () => {
    const fn = heater({ latest_price: 0.22, meter_value: 0.4 });
    expect(fn.rule).toBeNull();
    expect(fn.actions).toEqual([]);
  });

  it('given a cold tank at a high price, when evaluated, should keep the heater on', () => {
    expect(heater({ latest_price: 0.5, meter_value: 0.4, tank_temperature_c: 35 }).rule).toBe('tank-cold');
  });

  it('given no tank temperature (an optional input), when evaluated, should use the default and go by the price', () => {
    const absent = contract.evaluate('meter-00007', { latest_price: 0.5, meter_value: 0.4 }, 't');
    const warm = contract.evaluate(
      'meter-00007',
      { latest_price: 0.5, meter_value: 0.4, tank_temperature_c: 55 },
      't',
    );
    expect(absent.result.functions[0]?.rule).toBe('expensive');
    // An absent optional input is not an input with some value: the input hashes differ.
    expect(absent.result.inputHash).not.toBe(warm.result.inputHash);
  });

  it('given a deployment under an owner name that is not an identifier, when instantiated, should refuse it', () => {
    expect(() => instantiateContract(WATER_HEATER_CONTRACT_EXAMPLE, { owner: 'owner 7' })).toThrow(
      expect.objectContaining({ code: 'CONTRACT.INVALID' }),
    );
  });

  it('given its scope, when asked, should cover the owner meter and no other', () => {
    expect(contract.appliesTo({ meterId: 'meter-00007' })).toBe(true);
    expect(contract.appliesTo({ meterId: 'meter-00008' })).toBe(false);
  });

  it('given a device contract that tries to trip the meter, when compiled, should refuse it', () => {
    const greedy = {
      ...WATER_HEATER_CONTRACT_EXAMPLE,
      functions: [
        {
          name: 'trip',
          rules: [{ name: 'always', when: true, actions: [{ type: 'forced-trip', message: 'trip' }] }],
        },
      ],
    };
    expect(() => compileContract(greedy)).toThrow(/a device contract may only switch devices or notify/);
  });
});
