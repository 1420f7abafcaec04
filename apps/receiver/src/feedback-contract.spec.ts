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
    const result = {
      contractId: contract.contract.id,
      contractVersion: contract.contract.version,
      meterId: 'meter-00001',
      trigger,
      input: { ...DEFAULT_ACCOUNT, arrears: 450, tampered: false, meter_value: 0.4 },
      resultHash: evaluation.resultHash,
      actions,
    };
    const body = (results: unknown[]) => ({ receiverId: 'operator-billing', results });
    expect(contractResultBody.safeParse(body([result])).success).toBe(true);
    // With the parameters the registry refuses the body: they stay off the chain.
    expect(
      contractResultBody.safeParse(body([{ ...result, actions: deliveredActions(evaluation) }])).success,
    ).toBe(false);
  });

  it('given a batch of results, should take several meters but refuse an empty batch and the same result twice', () => {
    const result = (meterId: string, trigger: string) => {
      const evaluation = contract.evaluate(
        meterId,
        { ...DEFAULT_ACCOUNT, tampered: false, meter_value: 1 },
        trigger,
      );
      return {
        contractId: contract.contract.id,
        contractVersion: contract.contract.version,
        meterId,
        trigger,
        input: { ...DEFAULT_ACCOUNT, tampered: false, meter_value: 1 },
        resultHash: evaluation.resultHash,
        actions: deliveredActions(evaluation).map(chainAction),
      };
    };
    const other = `report:${'cd'.repeat(32)}`;
    const parse = (results: unknown[]) =>
      contractResultBody.safeParse({ receiverId: 'operator-billing', results });
    expect(parse([result('meter-00001', trigger), result('meter-00002', other)]).success).toBe(true);
    expect(parse([]).success).toBe(false);
    const twice = parse([result('meter-00001', trigger), result('meter-00001', trigger)]);
    expect(twice.success).toBe(false);
    expect(twice.error?.issues[0]?.message).toMatch(/twice/);
  });
});
