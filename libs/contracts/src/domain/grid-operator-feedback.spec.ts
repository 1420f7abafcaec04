import { GRID_OPERATOR_FEEDBACK_CONTRACT, instantiateContract } from './builtin-contracts';
import { compileContract, type ContractEvaluation } from './contract-compiler';

/** Algorithm 1 (paper V.B), branch by branch. */

const contract = compileContract(instantiateContract(GRID_OPERATOR_FEEDBACK_CONTRACT, { owner: 'op-north' }));

/** A meter that is fine on every count: postpaid, paid up, below its threshold. */
const fine = {
  tampered: false,
  meter_value: 0.8,
  threshold_value: 2.5,
  prepaid: false,
  prepaid_balance: 0,
  prepaid_low_level: 5,
  arrears: 0,
  arrears_level: 20,
  serious_arrears_level: 200,
  latest_price: 0.27,
};

function run(input: Partial<typeof fine>): ContractEvaluation {
  return contract.evaluate('meter-00042', { ...fine, ...input }, 'report:meter-00042:1');
}

function outcome(evaluation: ContractEvaluation, fn: 'consumption' | 'cost') {
  const found = evaluation.result.functions.find((f) => f.name === fn);
  if (!found) {
    throw new Error(`no ${fn} in the result`);
  }
  return found;
}

describe('Algorithm 1 consumption()', () => {
  it('given a tampered share, when evaluated, should raise the re-upload alarm', () => {
    const consumption = outcome(run({ tampered: true }), 'consumption');
    expect(consumption.rule).toBe('tampered');
    expect(consumption.actions.map((a) => [a.type, a.message])).toEqual([
      ['re-upload-alarm', 'Data has been tampered with, please re-upload'],
    ]);
  });

  it('given a tampered share that is also above the threshold, when evaluated, should only ask for a re-upload', () => {
    // A tampered value says nothing about the real load: the case order puts tampering first.
    const consumption = outcome(run({ tampered: true, meter_value: 9 }), 'consumption');
    expect(consumption.rule).toBe('tampered');
    expect(consumption.actions).toHaveLength(1);
  });

  it('given consumption exactly at the threshold, when evaluated, should switch to power-saving mode', () => {
    const consumption = outcome(run({ meter_value: 2.5 }), 'consumption');
    expect(consumption.rule).toBe('above-threshold');
    expect(consumption.actions[0]).toMatchObject({
      type: 'power-saving-mode',
      message: 'Excessive power consumption, transfer to power saving mode',
      params: { meter_value: 2.5, threshold_value: 2.5 },
    });
  });

  it('given consumption just below the threshold, when evaluated, should let the meter run as usual', () => {
    const consumption = outcome(run({ meter_value: 2.4999 }), 'consumption');
    expect(consumption.rule).toBeNull();
    expect(consumption.actions.map((a) => [a.type, a.message])).toEqual([
      ['run-as-usual', 'Smart meter runs as usual'],
    ]);
  });
});

describe('Algorithm 1 cost()', () => {
  it('given a prepaid meter below its low level, when evaluated, should notify the user to pay', () => {
    const cost = outcome(run({ prepaid: true, prepaid_balance: 3.1 }), 'cost');
    expect(cost.rule).toBe('prepaid-lacking');
    expect(cost.actions[0]).toMatchObject({
      type: 'notify-prepaid-low',
      message: 'Insufficient prepayment, notify users to pay electricity bills',
      params: { prepaid_balance: 3.1 },
    });
  });

  it('given a prepaid meter with enough credit, when evaluated, should report the latest price', () => {
    const cost = outcome(run({ prepaid: true, prepaid_balance: 40 }), 'cost');
    expect(cost.rule).toBeNull();
    expect(cost.actions[0]).toMatchObject({ type: 'report-price', params: { price: 0.27 } });
  });

  it('given a postpaid meter whose (unused) balance field is low, when evaluated, should not call it lacking', () => {
    const cost = outcome(run({ prepaid: false, prepaid_balance: 0 }), 'cost');
    expect(cost.rule).toBeNull();
    expect(cost.actions[0]?.type).toBe('report-price');
  });

  it('given arrears at the notice level, when evaluated, should ask the user to pay', () => {
    const cost = outcome(run({ arrears: 20 }), 'cost');
    expect(cost.rule).toBe('arrears');
    expect(cost.actions[0]).toMatchObject({
      type: 'notify-pay',
      message: 'Please pay the electricity fee',
      params: { arrears: 20 },
    });
  });

  it('given arrears below the notice level, when evaluated, should only report the price', () => {
    expect(outcome(run({ arrears: 19.99 }), 'cost').rule).toBeNull();
  });

  it('given serious arrears, when evaluated, should force a trip rather than only notify', () => {
    // The paper tests "arrears" before "serious arrears"; with amounts, serious arrears are also
    // arrears, so the more severe case has to come first or it could never fire.
    const cost = outcome(run({ arrears: 250 }), 'cost');
    expect(cost.rule).toBe('serious-arrears');
    expect(cost.actions.map((a) => [a.type, a.message])).toEqual([['forced-trip', 'Forced trip']]);
  });

  it('given a prepaid meter that is both lacking and in serious arrears, when evaluated, should notify about the prepayment first', () => {
    expect(outcome(run({ prepaid: true, prepaid_balance: 1, arrears: 250 }), 'cost').rule).toBe(
      'prepaid-lacking',
    );
  });
});

describe('Algorithm 1 as a whole', () => {
  it('given any input, when evaluated, should answer both functions, consumption first', () => {
    const evaluation = run({});
    expect(evaluation.result.functions.map((f) => f.name)).toEqual(['consumption', 'cost']);
    expect(evaluation.result.contract).toEqual({
      id: 'grid-operator/feedback',
      version: 1,
      owner: 'op-north',
      hash: contract.hash,
    });
    expect(evaluation.result.subject).toBe('meter-00042');
  });

  it('given the shipped document, when compiled, should accept it as it is', () => {
    expect(compileContract(GRID_OPERATOR_FEEDBACK_CONTRACT).contract.owner).toBe('grid-operator');
  });
});
