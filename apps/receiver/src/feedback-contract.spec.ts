import { compileContract, GRID_OPERATOR_FEEDBACK_CONTRACT, instantiateContract } from '@app/contracts';
import { contractResultBody } from '@app/registry';

import { chainAction, DEFAULT_ACCOUNT, deliveredActions } from './feedback-contract';

describe('deliveredActions', () => {
  const contract = compileContract(
    instantiateContract(GRID_OPERATOR_FEEDBACK_CONTRACT, { owner: 'east-grid-operator' }),
  );
  const trigger = `report:${'ab'.repeat(32)}`;
  const evaluate = (account: Partial<typeof DEFAULT_ACCOUNT>) =>
    contract.evaluate(
      'meter-00001',
      { ...DEFAULT_ACCOUNT, ...account, tampered: false, meter_value: 0.4 },
      trigger,
    );

  it('given a paid-up meter, should tell the owner the latest price itself, not only that there is one', () => {
    const actions = deliveredActions(evaluate({ latest_price: 0.31 }));
    expect(actions.map((a) => a.type)).toEqual(['run-as-usual', 'report-price']);
    expect(actions[1]!.params).toEqual({ price: 0.31 });
    expect(actions[0]).not.toHaveProperty('params');
  });

  it('given serious arrears, should tell the owner the amount owed with the forced trip', () => {
    const [, trip] = deliveredActions(evaluate({ arrears: 450 }));
    expect(trip).toMatchObject({ type: 'forced-trip', params: { arrears: 450 } });
  });

  it('given the actions as the chain records them, should keep id, type and message only, which a contract.result body accepts', () => {
    const evaluation = evaluate({ arrears: 450 });
    const actions = deliveredActions(evaluation).map(chainAction);
    expect(actions.every((a) => Object.keys(a).sort().join() === 'id,message,type')).toBe(true);
    const body = {
      receiverId: 'operator-billing',
      contractId: contract.contract.id,
      contractVersion: contract.contract.version,
      meterId: 'meter-00001',
      trigger,
      input: { ...DEFAULT_ACCOUNT, arrears: 450, tampered: false, meter_value: 0.4 },
      resultHash: evaluation.resultHash,
      actions,
    };
    expect(contractResultBody.safeParse(body).success).toBe(true);
    // With the parameters the registry refuses the body: they stay off the chain.
    expect(contractResultBody.safeParse({ ...body, actions: deliveredActions(evaluation) }).success).toBe(
      false,
    );
  });
});
