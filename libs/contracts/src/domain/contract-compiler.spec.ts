import { createHash } from 'node:crypto';

import { canonicalJson } from '@app/kernel';

import { GRID_OPERATOR_FEEDBACK_CONTRACT } from './builtin-contracts';
import { benchmarkContractEvaluations } from './contract-benchmark';
import { compileContract, contractHash, contractResultHash } from './contract-compiler';
import { ContractError } from './contract.errors';
import { CONTRACT_LIMITS } from './contract.schema';

/** A one-function contract around a condition, for the validation tests. */
function withCondition(when: unknown, inputs: Record<string, unknown> = { x: { type: 'number' } }) {
  return {
    format: 'cbsg.contract.v1',
    id: 'test/condition',
    version: 1,
    owner: 'op-test',
    kind: 'feedback',
    appliesTo: { scope: 'all' },
    inputs,
    functions: [{ name: 'f', rules: [{ name: 'r', when, actions: [{ type: 'notify', message: 'fired' }] }] }],
  };
}

function refusal(document: unknown): ContractError {
  try {
    compileContract(document);
  } catch (error) {
    if (error instanceof ContractError) {
      return error;
    }
    throw error;
  }
  throw new Error('the contract was accepted');
}

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

describe('contract validation at load', () => {
  it.each([
    ['method', { method: [{ var: 'x' }, 'toString'] }, /unknown operator "method"/],
    ['loose equality', { '==': [{ var: 'x' }, '1'] }, /unknown operator "=="/],
    ['an undeclared variable', { '>': [{ var: 'y' }, 1] }, /"y" is not a declared input/],
    ['a dynamic variable path', { '>': [{ var: [{ var: 'x' }] }, 1] }, /"var" takes an input name/],
    ['two operators in one object', { '>': [1, 2], '<': [1, 2] }, /exactly one operator/],
    ['a wrong argument count', { '>': [{ var: 'x' }] }, /">" takes 2 arguments, found 1/],
    ['an if without an else', { if: [true, true, false, true] }, /a final else value \(an odd count\)/],
    ['a nested literal list', { in: [1, [[1]]] }, /a literal list holds only/],
  ])(
    'given a condition with %s, when compiled, should refuse it with CONTRACT.INVALID',
    (_, when, message) => {
      const error = refusal(withCondition(when));
      expect(error.code).toBe('CONTRACT.INVALID');
      expect(error.message).toMatch(message);
    },
  );

  it('given an expression nested deeper than the limit, when compiled, should refuse it', () => {
    let when: unknown = { var: 'x' };
    for (let i = 0; i < CONTRACT_LIMITS.maxExpressionDepth; i++) {
      when = { '!': [when] };
    }
    expect(refusal(withCondition(when)).message).toMatch(/nested deeper than 16/);
  });

  it('given a hostile nesting far past any limit, when compiled, should refuse it without overflowing the stack', () => {
    let when: unknown = true;
    for (let i = 0; i < 200_000; i++) {
      when = [when];
    }
    expect(refusal(withCondition(when)).message).toMatch(/nested deeper than 40/);
  });

  it('given a document over the size limit, when compiled, should refuse it', () => {
    const big = withCondition(true);
    (big as Record<string, unknown>).description = 'x'.repeat(CONTRACT_LIMITS.maxDocumentChars);
    expect(refusal(big).message).toMatch(/larger than 65536 characters/);
  });

  it('given an unknown top-level field, when compiled, should refuse it rather than ignore it', () => {
    expect(refusal({ ...withCondition(true), code: 'alert(1)' }).message).toMatch(/code|Unrecognized/);
  });

  it('given two rules of one name, when compiled, should refuse the ambiguity', () => {
    const doc = withCondition(true);
    const rule = doc.functions[0]?.rules[0];
    doc.functions[0]?.rules.push({ ...rule, name: 'r' } as never);
    expect(refusal(doc).message).toMatch(/rule "r" appears twice/);
  });

  it('given a device action without its device, when compiled, should refuse it', () => {
    const doc = withCondition(true);
    (doc.functions[0]?.rules[0]?.actions as unknown[])[0] = { type: 'device-off', message: 'off' };
    expect(refusal(doc).message).toMatch(/"device-off" must name the device/);
  });
});

describe('contract inputs and failures at evaluation', () => {
  const contract = compileContract(GRID_OPERATOR_FEEDBACK_CONTRACT);

  it('given a missing input and a mistyped one, when evaluated, should refuse with both problems named', () => {
    const { latest_price: _omitted, ...partial } = fine;
    expect(() => contract.evaluate('meter-1', { ...partial, meter_value: '0.8' }, 't')).toThrow(
      expect.objectContaining({
        code: 'CONTRACT.BAD_INPUT',
        details: expect.objectContaining({
          problems: ['"latest_price" is missing', '"meter_value" must be a finite number, found a string'],
        }),
      }),
    );
  });

  it('given a non-finite number, when evaluated, should refuse it', () => {
    expect(() => contract.evaluate('meter-1', { ...fine, meter_value: Number.NaN }, 't')).toThrow(
      /must be a finite number/,
    );
  });

  it('given a division by zero in a parameter, when evaluated, should fail with CONTRACT.EVALUATION_FAILED', () => {
    const doc = withCondition(true);
    (doc.functions[0]?.rules[0]?.actions as unknown[])[0] = {
      type: 'notify',
      message: 'per unit',
      params: { share: { '/': [1, { var: 'x' }] } },
    };
    const compiled = compileContract(doc);
    expect(compiled.evaluate('meter-1', { x: 4 }, 't').result.functions[0]?.actions[0]?.params).toEqual({
      share: 0.25,
    });
    expect(() => compiled.evaluate('meter-1', { x: 0 }, 't')).toThrow(
      expect.objectContaining({ code: 'CONTRACT.EVALUATION_FAILED' }),
    );
  });

  it('given a condition that is not a boolean, when evaluated, should fail rather than guess its truth', () => {
    const compiled = compileContract(withCondition({ '+': [{ var: 'x' }, 1] }));
    expect(() => compiled.evaluate('meter-1', { x: 1 }, 't')).toThrow(/gave number 2, not true or false/);
  });
});

describe('contract determinism', () => {
  it('given the same contract and input in another order, when evaluated twice, should give the same bytes and hash', () => {
    const a = compileContract(GRID_OPERATOR_FEEDBACK_CONTRACT);
    // A second compilation from a re-serialised copy: what another party would load from the chain.
    const b = compileContract(JSON.parse(JSON.stringify(GRID_OPERATOR_FEEDBACK_CONTRACT)));
    const reversed = Object.fromEntries(Object.entries(fine).reverse());
    const first = a.evaluate('meter-9', fine, 'block:12/tx:3');
    const second = b.evaluate('meter-9', { ...reversed, unrelated: 'ignored' }, 'block:12/tx:3');
    expect(b.hash).toBe(a.hash);
    expect(second.canonical).toBe(first.canonical);
    expect(second.resultHash).toBe(first.resultHash);
  });

  it('given a result, when its hash is recomputed from its canonical JSON alone, should match', () => {
    const evaluation = compileContract(GRID_OPERATOR_FEEDBACK_CONTRACT).evaluate('meter-9', fine, 'x');
    expect(canonicalJson(JSON.parse(evaluation.canonical))).toBe(evaluation.canonical);
    expect(contractResultHash(evaluation.canonical)).toBe(evaluation.resultHash);
    expect(evaluation.resultHash).toBe(
      createHash('sha256').update('cbsg.contract-result.v1\n').update(evaluation.canonical).digest('hex'),
    );
  });

  it('given a new version of a contract, when hashed, should get another contract hash', () => {
    expect(contractHash({ ...GRID_OPERATOR_FEEDBACK_CONTRACT, version: 2 })).not.toBe(
      contractHash(GRID_OPERATOR_FEEDBACK_CONTRACT),
    );
  });

  it('given the same input under two triggers, when evaluated, should give distinct action ids', () => {
    const contract = compileContract(GRID_OPERATOR_FEEDBACK_CONTRACT);
    const ids = (trigger: string) =>
      contract
        .evaluate('meter-9', fine, trigger)
        .result.functions.flatMap((f) => f.actions.map((a) => a.actionId));
    const first = ids('report:1');
    expect(first).toHaveLength(2);
    expect(new Set([...first, ...ids('report:2')]).size).toBe(4);
    expect(ids('report:1')).toEqual(first);
  });

  it('given contracts compiled and evaluated, when watched, should never call eval', () => {
    const evalSpy = jest.spyOn(globalThis, 'eval');
    const contract = compileContract(GRID_OPERATOR_FEEDBACK_CONTRACT);
    for (let i = 0; i < 50; i++) {
      contract.evaluate('meter-9', { ...fine, meter_value: i / 10 }, `t${i}`);
    }
    expect(evalSpy).not.toHaveBeenCalled();
  });
});

describe('many evaluations of one compiled contract', () => {
  it('given 10,000 meters, when evaluated through the benchmark, should decide each one as its own input says', () => {
    const contract = compileContract(GRID_OPERATOR_FEEDBACK_CONTRACT);
    // Inputs spread over every branch: a value walking through the threshold, some tampered,
    // balances and arrears on either side of their levels.
    const inputs = Array.from({ length: 10_000 }, (_, i) => ({
      ...fine,
      tampered: i % 97 === 0,
      meter_value: (i % 50) / 10,
      prepaid: i % 3 === 0,
      prepaid_balance: i % 11,
      arrears: (i % 7) * 40,
    }));
    let tick = 0;
    const bench = benchmarkContractEvaluations({
      contract,
      inputs,
      evaluations: inputs.length,
      now: () => (tick += 1000),
      subjectOf: (i) => `meter-${i}`,
    });
    expect(bench).toMatchObject({ evaluations: 10_000, elapsedMs: 1000, evaluationsPerSecond: 10_000 });

    const counts = new Map<string, number>();
    inputs.forEach((input, i) => {
      for (const fn of contract.evaluate(`meter-${i}`, input, `bench:${i}`).result.functions) {
        const key = `${fn.name}/${fn.rule ?? 'otherwise'}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
    });
    const expected = (test: (input: (typeof inputs)[number]) => boolean) => inputs.filter(test).length;
    expect(counts.get('consumption/tampered')).toBe(expected((x) => x.tampered));
    expect(counts.get('consumption/above-threshold')).toBe(
      expected((x) => !x.tampered && x.meter_value >= 2.5),
    );
    expect(counts.get('cost/prepaid-lacking')).toBe(expected((x) => x.prepaid && x.prepaid_balance < 5));
    expect(counts.get('cost/serious-arrears')).toBe(
      expected((x) => !(x.prepaid && x.prepaid_balance < 5) && x.arrears >= 200),
    );
    expect(counts.get('cost/arrears')).toBe(
      expected((x) => !(x.prepaid && x.prepaid_balance < 5) && x.arrears >= 20 && x.arrears < 200),
    );
    // The benchmark's last evaluation is the same as evaluating that input directly.
    expect(bench.lastResultHash).toBe(
      contract.evaluate('meter-9999', inputs[9_999] ?? fine, 'bench:9999').resultHash,
    );
  });
});
