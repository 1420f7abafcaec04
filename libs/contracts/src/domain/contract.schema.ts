import { z } from 'zod';

/**
 * A contract is data (DESIGN.md section 5): a versioned, declarative rule set whose conditions are
 * JSON Logic over a closed set of operators and over inputs the contract declares. This file says
 * what a valid contract document is; contract-compiler.ts evaluates one.
 */

export const CONTRACT_FORMAT = 'cbsg.contract.v1';

export const CONTRACT_KINDS = ['feedback', 'device'] as const;
export type ContractKind = (typeof CONTRACT_KINDS)[number];

/**
 * What a contract may ask a meter to do. The first seven are Algorithm 1's outputs (paper V.B); the
 * device actions are a meter owner's (paper III.F); notify is a plain message to the owner's phone.
 */
export const ACTION_TYPES = [
  're-upload-alarm',
  'power-saving-mode',
  'run-as-usual',
  'notify-prepaid-low',
  'notify-pay',
  'forced-trip',
  'report-price',
  'device-on',
  'device-off',
  'notify',
] as const;
export type ActionType = (typeof ACTION_TYPES)[number];

/** A user regulates their own appliances; only the operator may trip a meter or change its mode. */
const DEVICE_KIND_ACTIONS: ReadonlySet<ActionType> = new Set(['device-on', 'device-off', 'notify']);
const ACTIONS_NEEDING_DEVICE: ReadonlySet<ActionType> = new Set(['device-on', 'device-off']);

/**
 * The closed operator set, with the number of arguments each takes. Everything else is refused at
 * load: no `method` (it would call JavaScript methods on the data), no loose `==` (its coercions
 * surprise), no array iteration (bounded work per evaluation), no string surgery.
 */
export const CONTRACT_OPERATORS: Readonly<Record<string, readonly [min: number, max: number]>> = {
  var: [1, 2],
  if: [3, 31],
  '===': [2, 2],
  '!==': [2, 2],
  '<': [2, 3],
  '<=': [2, 3],
  '>': [2, 2],
  '>=': [2, 2],
  '!': [1, 1],
  '!!': [1, 1],
  and: [1, 16],
  or: [1, 16],
  '+': [1, 16],
  '-': [1, 2],
  '*': [1, 16],
  '/': [2, 2],
  '%': [2, 2],
  min: [1, 16],
  max: [1, 16],
  in: [2, 2],
  cat: [1, 16],
};

/**
 * Bounds on a contract, so that loading and evaluating one costs a bounded, small amount of work
 * whoever wrote it (a meter owner may deploy one).
 */
export const CONTRACT_LIMITS = {
  /** Canonical JSON of the whole document, UTF-16 code units. */
  maxDocumentChars: 64 * 1024,
  /** Nesting of the whole document (objects and arrays), and of one expression. */
  maxDocumentDepth: 40,
  maxExpressionDepth: 16,
  /** Operators and literals over all expressions of a contract. */
  maxExpressionNodes: 2_000,
  maxInputs: 64,
  maxFunctions: 8,
  maxRulesPerFunction: 32,
  maxActionsPerRule: 8,
  maxParamsPerAction: 8,
  maxLiteralArray: 64,
  maxStringChars: 280,
} as const;

const identifier = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/, 'must be an identifier (letters, digits, . _ : / -)');
const name = z.string().regex(/^[a-z][a-z0-9_-]{0,63}$/, 'must be a lower-case name (a-z, 0-9, _ -)');
const inputName = z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, 'must be a lower-case name (a-z, 0-9, _)');
const text = z.string().max(CONTRACT_LIMITS.maxStringChars);

/** A JSON Logic expression; its operators and variables are checked by checkExpression below. */
const expression = z.json();

const inputSpec = z
  .object({
    type: z.enum(['number', 'boolean', 'string']),
    /** An optional input may be absent; `{"var": [name, default]}` then gives the default. */
    optional: z.boolean().optional(),
    description: z.string().max(500).optional(),
  })
  .strict();

const action = z
  .object({
    type: z.enum(ACTION_TYPES),
    message: text.min(1),
    /** The appliance a device action switches (paper III.F), as the meter's owner named it. */
    device: identifier.optional(),
    /** Values the action carries (a price, a balance), each an expression over the inputs. */
    params: z.record(inputName, expression).optional(),
  })
  .strict();

const rule = z
  .object({
    name,
    /** Must evaluate to true or false; the rule fires on true. */
    when: expression,
    actions: z.array(action).min(1).max(CONTRACT_LIMITS.maxActionsPerRule),
  })
  .strict();

const contractFunction = z
  .object({
    name,
    /** Tried in order; the first rule that fires gives the function's actions (a case statement). */
    rules: z.array(rule).max(CONTRACT_LIMITS.maxRulesPerFunction),
    /** The actions when no rule fires; absent means none. */
    otherwise: z.array(action).max(CONTRACT_LIMITS.maxActionsPerRule).optional(),
  })
  .strict();

const appliesTo = z.discriminatedUnion('scope', [
  z.object({ scope: z.literal('all') }).strict(),
  z.object({ scope: z.literal('meters'), meters: z.array(identifier).min(1).max(10_000) }).strict(),
  z.object({ scope: z.literal('tariffs'), tariffs: z.array(identifier).min(1).max(64) }).strict(),
]);

export const contractSchema = z
  .object({
    format: z.literal(CONTRACT_FORMAT),
    id: identifier,
    /** A new version is a new document; results name the version (and hash) they came from. */
    version: z.number().int().min(1).max(1_000_000_000),
    /** The organisation (a receiver) or the meter owner that deploys it. */
    owner: identifier,
    kind: z.enum(CONTRACT_KINDS),
    description: z.string().max(2_000).optional(),
    appliesTo,
    inputs: z.record(inputName, inputSpec),
    functions: z.array(contractFunction).min(1).max(CONTRACT_LIMITS.maxFunctions),
  })
  .strict();

export type ContractDocument = z.infer<typeof contractSchema>;
export type ContractFunction = ContractDocument['functions'][number];
export type ContractRule = ContractFunction['rules'][number];
export type ContractActionSpec = ContractRule['actions'][number];
export type ContractInputSpec = ContractDocument['inputs'][string];
export type ContractScope = ContractDocument['appliesTo'];

/**
 * Every problem with a parsed contract that its schema cannot express: unique names, the closed
 * operator set, declared variables, the limits, the actions each kind may take. Empty when valid.
 */
export function contractProblems(contract: ContractDocument): string[] {
  const problems: string[] = [];
  const inputNames = Object.keys(contract.inputs);
  if (inputNames.length > CONTRACT_LIMITS.maxInputs) {
    problems.push(`inputs: at most ${CONTRACT_LIMITS.maxInputs}`);
  }
  const budget = { nodes: 0 };
  const functionNames = new Set<string>();
  contract.functions.forEach((fn, f) => {
    const at = `functions[${f}]`;
    if (functionNames.has(fn.name)) {
      problems.push(`${at}: function "${fn.name}" appears twice`);
    }
    functionNames.add(fn.name);
    const ruleNames = new Set<string>();
    fn.rules.forEach((r, i) => {
      if (ruleNames.has(r.name)) {
        problems.push(`${at}.rules[${i}]: rule "${r.name}" appears twice in "${fn.name}"`);
      }
      ruleNames.add(r.name);
      checkExpression(r.when, contract.inputs, `${at}.rules[${i}].when`, 1, budget, problems);
      r.actions.forEach((a, j) =>
        checkAction(a, contract, `${at}.rules[${i}].actions[${j}]`, budget, problems),
      );
    });
    (fn.otherwise ?? []).forEach((a, j) =>
      checkAction(a, contract, `${at}.otherwise[${j}]`, budget, problems),
    );
  });
  if (budget.nodes > CONTRACT_LIMITS.maxExpressionNodes) {
    problems.push(
      `expressions: ${budget.nodes} operators and literals, at most ${CONTRACT_LIMITS.maxExpressionNodes}`,
    );
  }
  return problems;
}

function checkAction(
  action: ContractActionSpec,
  contract: ContractDocument,
  at: string,
  budget: { nodes: number },
  problems: string[],
): void {
  if (contract.kind === 'device' && !DEVICE_KIND_ACTIONS.has(action.type)) {
    problems.push(`${at}: a device contract may only switch devices or notify, not "${action.type}"`);
  }
  const needsDevice = ACTIONS_NEEDING_DEVICE.has(action.type);
  if (needsDevice && action.device === undefined) {
    problems.push(`${at}: "${action.type}" must name the device`);
  }
  if (!needsDevice && action.device !== undefined) {
    problems.push(`${at}: "${action.type}" does not switch a device, so it takes no "device"`);
  }
  const params = Object.entries(action.params ?? {});
  if (params.length > CONTRACT_LIMITS.maxParamsPerAction) {
    problems.push(`${at}.params: at most ${CONTRACT_LIMITS.maxParamsPerAction}`);
  }
  for (const [key, value] of params) {
    checkExpression(value, contract.inputs, `${at}.params.${key}`, 1, budget, problems);
  }
}

/**
 * Checks one JSON Logic expression: every object is one operator of the closed set with its number
 * of arguments; `var` names a declared input, with at most a literal default; literals stay small.
 */
function checkExpression(
  node: unknown,
  inputs: ContractDocument['inputs'],
  at: string,
  depth: number,
  budget: { nodes: number },
  problems: string[],
): void {
  budget.nodes += 1;
  if (depth > CONTRACT_LIMITS.maxExpressionDepth) {
    problems.push(`${at}: nested deeper than ${CONTRACT_LIMITS.maxExpressionDepth}`);
    return;
  }
  if (node === null || typeof node === 'boolean') {
    return;
  }
  if (typeof node === 'number') {
    if (!Number.isFinite(node)) {
      problems.push(`${at}: ${node} is not a finite number`);
    }
    return;
  }
  if (typeof node === 'string') {
    if (node.length > CONTRACT_LIMITS.maxStringChars) {
      problems.push(`${at}: a string literal holds at most ${CONTRACT_LIMITS.maxStringChars} characters`);
    }
    return;
  }
  if (Array.isArray(node)) {
    // A literal list (the right-hand side of `in`): of literals only, so that its size is what it says.
    if (node.length > CONTRACT_LIMITS.maxLiteralArray) {
      problems.push(`${at}: a literal list holds at most ${CONTRACT_LIMITS.maxLiteralArray} items`);
    }
    node.forEach((item, i) => {
      if (item !== null && typeof item === 'object') {
        problems.push(`${at}[${i}]: a literal list holds only numbers, strings, booleans or null`);
      } else {
        checkExpression(item, inputs, `${at}[${i}]`, depth + 1, budget, problems);
      }
    });
    return;
  }
  if (typeof node !== 'object') {
    problems.push(`${at}: not a JSON value`);
    return;
  }
  const keys = Object.keys(node);
  const operator = keys[0];
  if (keys.length !== 1 || operator === undefined) {
    problems.push(`${at}: an operation is an object with exactly one operator, found {${keys.join(', ')}}`);
    return;
  }
  const arity = Object.hasOwn(CONTRACT_OPERATORS, operator) ? CONTRACT_OPERATORS[operator] : undefined;
  if (arity === undefined) {
    problems.push(`${at}: unknown operator "${operator}"`);
    return;
  }
  const raw = (node as Record<string, unknown>)[operator];
  if (operator === 'var') {
    checkVariable(raw, inputs, `${at}.var`, problems);
    return;
  }
  if (!Array.isArray(raw)) {
    problems.push(`${at}: the arguments of "${operator}" are a list`);
    return;
  }
  const [min, max] = arity;
  if (raw.length < min || raw.length > max) {
    problems.push(
      `${at}: "${operator}" takes ${min === max ? min : `${min} to ${max}`} arguments, found ${raw.length}`,
    );
  }
  if (operator === 'if' && raw.length % 2 === 0) {
    // JSON Logic would fall back to null; we ask for an explicit else so that no branch is implicit.
    problems.push(`${at}: "if" takes condition/value pairs and a final else value (an odd count)`);
  }
  raw.forEach((argument, i) => {
    const place = `${at}.${operator}[${i}]`;
    if (Array.isArray(argument)) {
      if (operator !== 'in' || i !== 1) {
        problems.push(`${place}: only the second argument of "in" may be a literal list`);
        return;
      }
    }
    checkExpression(argument, inputs, place, depth + 1, budget, problems);
  });
}

function checkVariable(
  raw: unknown,
  inputs: ContractDocument['inputs'],
  at: string,
  problems: string[],
): void {
  const [variable, fallback, ...rest] = Array.isArray(raw) ? (raw as unknown[]) : [raw];
  if (typeof variable !== 'string' || rest.length > 0) {
    problems.push(`${at}: "var" takes an input name and at most a literal default`);
    return;
  }
  if (!Object.hasOwn(inputs, variable)) {
    problems.push(`${at}: "${variable}" is not a declared input`);
  }
  if (fallback !== undefined && fallback !== null && typeof fallback === 'object') {
    problems.push(`${at}: the default of "${variable}" must be a literal`);
  }
}
