import { createHash } from 'node:crypto';

import { canonicalJson } from '@app/kernel';
import { defaultMethods, LogicEngine } from 'json-logic-engine';

import { ContractErrors } from './contract.errors';
import {
  type ActionType,
  type ContractActionSpec,
  type ContractDocument,
  CONTRACT_LIMITS,
  CONTRACT_OPERATORS,
  contractProblems,
  contractSchema,
} from './contract.schema';

/**
 * Loading and evaluating contracts. Evaluation is a pure function of (contract, subject, input,
 * trigger): no clock, no randomness, no I/O, so any party holding the same data gets the same
 * result, byte for byte in its canonical JSON, and the same result hash.
 *
 * The JSON Logic engine is json-logic-engine, used only through LogicEngine.run: that path turns
 * each expression, the first time it meets it, into a tree of closures and caches it by object
 * identity (compile once, evaluate many). The package also has a code-generating compiler
 * (LogicEngine.build) that calls eval; we never call it, and a test watches that eval stays unused.
 */

export const CONTRACT_RESULT_FORMAT = 'cbsg.contract-result.v1';

// Domain tags: a contract hash can never be mistaken for a result hash or an input hash.
const CONTRACT_HASH_TAG = 'cbsg.contract.v1\n';
const INPUT_HASH_TAG = 'cbsg.contract-input.v1\n';
const RESULT_HASH_TAG = 'cbsg.contract-result.v1\n';
const EXECUTION_ID_TAG = 'cbsg.contract-execution.v1\n';

const SUBJECT_RE = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/;
const MAX_TRIGGER_CHARS = 200;

export type InputValue = number | boolean | string;

/** One action a contract produced, as it is delivered to the meter and to the owner's phone. */
export interface ContractAction {
  /** Unique per (contract version, subject, trigger, place in the result): the delivery's idempotency key. */
  actionId: string;
  type: ActionType;
  message: string;
  device?: string;
  params?: Record<string, InputValue | null>;
}

export interface ContractFunctionResult {
  name: string;
  /** The rule that fired, or null when none did (the function's `otherwise`). */
  rule: string | null;
  actions: ContractAction[];
}

/** What any party re-running the contract must reproduce exactly. */
export interface ContractResult {
  format: typeof CONTRACT_RESULT_FORMAT;
  contract: { id: string; version: number; owner: string; hash: string };
  /** The meter the contract was evaluated for. */
  subject: string;
  /** What caused the evaluation (the report, block or event position it read): keys the execution. */
  trigger: string;
  /** SHA-256 of the declared inputs as evaluated (canonical JSON, absent optional inputs left out). */
  inputHash: string;
  functions: ContractFunctionResult[];
}

export interface ContractEvaluation {
  result: ContractResult;
  /** Canonical JSON of the result (RFC 8785 rules, kernel canonicalJson). */
  canonical: string;
  /** SHA-256 (hex) of the tagged canonical JSON: equal hashes, equal results. */
  resultHash: string;
}

/** A meter as a contract's scope sees it. */
export interface ContractSubject {
  meterId: string;
  tariff?: string;
}

function sha256Hex(tag: string, text: string): string {
  return createHash('sha256').update(tag).update(text).digest('hex');
}

/** The hash that names one version of a contract: over its canonical JSON, domain-tagged. */
export function contractHash(contract: ContractDocument): string {
  return sha256Hex(CONTRACT_HASH_TAG, canonicalJson(contract));
}

/** The hash of a result's canonical JSON; what a re-running party compares. */
export function contractResultHash(canonical: string): string {
  return sha256Hex(RESULT_HASH_TAG, canonical);
}

/** The engine's method table cut down to the closed operator set: nothing else exists for it. */
function closedMethods(): Record<string, unknown> {
  const all = defaultMethods as Record<string, unknown>;
  const methods: Record<string, unknown> = {};
  for (const operator of Object.keys(CONTRACT_OPERATORS)) {
    const method = all[operator];
    if (method === undefined) {
      // A new engine version dropped an operator we promise: refuse to start rather than misjudge.
      throw new Error(`json-logic-engine has no "${operator}" operator`);
    }
    methods[operator] = method;
  }
  return methods;
}

/**
 * Validates a contract document (zod shape, closed operators, declared variables, limits) and
 * prepares it for evaluation. Throws CONTRACT.INVALID listing every problem found.
 */
export function compileContract(document: unknown): CompiledContract {
  const shapeProblem = measure(document);
  if (shapeProblem !== undefined) {
    throw ContractErrors.invalid([shapeProblem]);
  }
  const parsed = contractSchema.safeParse(document);
  if (!parsed.success) {
    throw ContractErrors.invalid(
      parsed.error.issues.map(
        (issue) => `${issue.path.map(String).join('.') || '(document)'}: ${issue.message}`,
      ),
    );
  }
  const problems = contractProblems(parsed.data);
  if (problems.length > 0) {
    throw ContractErrors.invalid(problems);
  }
  // Our own deep copy, frozen: the engine caches compiled expressions by object identity, so the
  // expressions it holds must never change under it.
  const contract = deepFreeze(JSON.parse(canonicalJson(parsed.data)) as ContractDocument);
  return new CompiledContract(contract);
}

/**
 * Size and depth before anything recursive touches the document, walked without recursion, so that
 * a hostile document (a very deep nesting) costs bounded work and never overflows the stack.
 */
function measure(document: unknown): string | undefined {
  const stack: Array<[unknown, number]> = [[document, 1]];
  let chars = 0;
  while (stack.length > 0) {
    const [node, depth] = stack.pop() as [unknown, number];
    if (depth > CONTRACT_LIMITS.maxDocumentDepth) {
      return `the document is nested deeper than ${CONTRACT_LIMITS.maxDocumentDepth}`;
    }
    if (typeof node === 'string') {
      chars += node.length + 2;
    } else if (Array.isArray(node)) {
      chars += 2;
      for (const item of node as unknown[]) {
        stack.push([item, depth + 1]);
      }
    } else if (node !== null && typeof node === 'object') {
      chars += 2;
      for (const [key, value] of Object.entries(node)) {
        chars += key.length + 3;
        stack.push([value, depth + 1]);
      }
    } else {
      chars += 8;
    }
    if (chars > CONTRACT_LIMITS.maxDocumentChars) {
      return `the document is larger than ${CONTRACT_LIMITS.maxDocumentChars} characters`;
    }
  }
  return undefined;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const item of Object.values(value)) {
      deepFreeze(item);
    }
    Object.freeze(value);
  }
  return value;
}

type EvaluationData = Record<string, InputValue>;

/** A validated contract, ready to evaluate many inputs. Create it with compileContract. */
export class CompiledContract {
  readonly contract: ContractDocument;
  readonly hash: string;
  readonly #engine: LogicEngine;
  /** Declared inputs in sorted order, with their spec, for a fast per-evaluation check. */
  readonly #inputs: ReadonlyArray<readonly [string, ContractDocument['inputs'][string]]>;

  constructor(contract: ContractDocument) {
    this.contract = contract;
    this.hash = contractHash(contract);
    // One engine per contract: its caches hold only this contract's expressions. permissive false:
    // an object whose key is not an operator is an error, never silently data.
    this.#engine = new LogicEngine(closedMethods(), { permissive: false });
    this.#inputs = Object.entries(contract.inputs).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  get id(): string {
    return this.contract.id;
  }

  get version(): number {
    return this.contract.version;
  }

  /** Whether this contract covers a meter (its scope); the deployer's ownership is checked elsewhere. */
  appliesTo(subject: ContractSubject): boolean {
    const scope = this.contract.appliesTo;
    switch (scope.scope) {
      case 'all':
        return true;
      case 'meters':
        return scope.meters.includes(subject.meterId);
      case 'tariffs':
        return subject.tariff !== undefined && scope.tariffs.includes(subject.tariff);
    }
  }

  /**
   * Evaluates every function of the contract for one meter. `input` must hold every declared input
   * with its type (undeclared fields are ignored and do not enter the input hash); `trigger` names
   * what caused this evaluation, so that the same input seen again later gives new action ids.
   * Throws CONTRACT.BAD_INPUT or CONTRACT.EVALUATION_FAILED; never returns a partial result.
   */
  evaluate(subject: string, input: Readonly<Record<string, unknown>>, trigger: string): ContractEvaluation {
    if (!SUBJECT_RE.test(subject)) {
      throw ContractErrors.badInput(this.id, [`subject "${subject}" is not a meter identifier`]);
    }
    if (trigger.length === 0 || trigger.length > MAX_TRIGGER_CHARS) {
      throw ContractErrors.badInput(this.id, [`trigger must hold 1 to ${MAX_TRIGGER_CHARS} characters`]);
    }
    const data = this.#project(input);
    const inputHash = sha256Hex(INPUT_HASH_TAG, canonicalJson(data));
    const executionId = sha256Hex(EXECUTION_ID_TAG, canonicalJson({ contract: this.hash, subject, trigger }));

    const functions = this.contract.functions.map((fn, f): ContractFunctionResult => {
      for (const rule of fn.rules) {
        const fired = this.#run(rule.when, data, `${fn.name}/${rule.name}`);
        if (fired !== true && fired !== false) {
          throw ContractErrors.evaluationFailed(
            this.id,
            `${fn.name}/${rule.name}`,
            `the condition gave ${describe(fired)}, not true or false`,
          );
        }
        if (fired) {
          return {
            name: fn.name,
            rule: rule.name,
            actions: this.#actions(rule.actions, data, `${executionId}:${f}`, `${fn.name}/${rule.name}`),
          };
        }
      }
      const otherwise = fn.otherwise ?? [];
      return {
        name: fn.name,
        rule: null,
        actions: this.#actions(otherwise, data, `${executionId}:${f}`, `${fn.name}/otherwise`),
      };
    });

    const result: ContractResult = {
      format: CONTRACT_RESULT_FORMAT,
      contract: { id: this.id, version: this.version, owner: this.contract.owner, hash: this.hash },
      subject,
      trigger,
      inputHash,
      functions,
    };
    const canonical = canonicalJson(result);
    return { result, canonical, resultHash: contractResultHash(canonical) };
  }

  /** The declared inputs, type-checked, in a null-prototype object (no inherited names to read). */
  #project(input: Readonly<Record<string, unknown>>): EvaluationData {
    const data = Object.create(null) as EvaluationData;
    let problems: string[] | undefined;
    for (const [name, spec] of this.#inputs) {
      const value = Object.hasOwn(input, name) ? input[name] : undefined;
      if (value === undefined || value === null) {
        if (!spec.optional) {
          (problems ??= []).push(`"${name}" is missing`);
        }
        continue;
      }
      if (typeof value !== spec.type || (typeof value === 'number' && !Number.isFinite(value))) {
        (problems ??= []).push(`"${name}" must be a finite ${spec.type}, found ${describe(value)}`);
        continue;
      }
      if (typeof value === 'string' && value.length > CONTRACT_LIMITS.maxStringChars) {
        (problems ??= []).push(`"${name}" holds at most ${CONTRACT_LIMITS.maxStringChars} characters`);
        continue;
      }
      data[name] = value as InputValue;
    }
    if (problems) {
      throw ContractErrors.badInput(this.id, problems);
    }
    return data;
  }

  #actions(
    specs: readonly ContractActionSpec[],
    data: EvaluationData,
    idPrefix: string,
    where: string,
  ): ContractAction[] {
    return specs.map((spec, i) => {
      const action: ContractAction = { actionId: `${idPrefix}:${i}`, type: spec.type, message: spec.message };
      if (spec.device !== undefined) {
        action.device = spec.device;
      }
      if (spec.params !== undefined) {
        const params: Record<string, InputValue | null> = {};
        for (const [key, expression] of Object.entries(spec.params)) {
          const value = this.#run(expression, data, `${where}.params.${key}`);
          if (!isParamValue(value)) {
            throw ContractErrors.evaluationFailed(
              this.id,
              `${where}.params.${key}`,
              `gave ${describe(value)}, not a finite number, a string, a boolean or null`,
            );
          }
          params[key] = value;
        }
        action.params = params;
      }
      return action;
    });
  }

  #run(expression: unknown, data: EvaluationData, where: string): unknown {
    try {
      return this.#engine.run(expression, data);
    } catch (error) {
      // The engine throws NaN for arithmetic that has no number (a division by zero, a string
      // operand) and plain objects for bad arguments: name them for the caller.
      const reason =
        typeof error === 'number' && Number.isNaN(error)
          ? 'the arithmetic has no finite result (a division by zero, or a non-number operand)'
          : error instanceof Error
            ? error.message
            : typeof error === 'object' && error !== null && 'type' in error
              ? String(error.type)
              : 'the expression failed';
      throw ContractErrors.evaluationFailed(this.id, where, reason);
    }
  }
}

function isParamValue(value: unknown): value is InputValue | null {
  return (
    value === null ||
    typeof value === 'boolean' ||
    typeof value === 'string' ||
    (typeof value === 'number' && Number.isFinite(value))
  );
}

function describe(value: unknown): string {
  if (value === null) {
    return 'null';
  }
  if (Array.isArray(value)) {
    return 'a list';
  }
  return typeof value === 'number' || typeof value === 'boolean'
    ? `${typeof value} ${String(value)}`
    : `a ${typeof value}`;
}
