import { DomainError } from '@app/kernel';

/**
 * A path or query parameter the endpoint cannot use: a 400 whose message starts with the parameter's
 * name and whose details name it for programs (`details.parameter`).
 */
export class InvalidParameterError extends DomainError {
  readonly code = 'REQUEST.INVALID_PARAMETER';

  constructor(parameter: string, expected: string) {
    super(`${parameter} must be ${expected}`, { parameter });
  }
}

/**
 * Express hands a repeated parameter (?limit=1&limit=2) over as an array, and a bracketed one as an
 * object: either is refused rather than guessed at.
 */
function single(value: unknown, name: string, expected: string): string | undefined {
  if (value === undefined) {
    return undefined;
  }
  if (typeof value !== 'string') {
    throw new InvalidParameterError(name, `given once, as ${expected}`);
  }
  return value;
}

/** The page size of a list: a whole number from 1 to `max`, `fallback` when not given. */
export function limitParameter(value: unknown, fallback: number, max: number): number {
  const expected = `an integer from 1 to ${max}`;
  const text = single(value, 'limit', expected);
  if (text === undefined) {
    return fallback;
  }
  if (!/^\d{1,6}$/.test(text) || Number(text) < 1 || Number(text) > max) {
    throw new InvalidParameterError('limit', expected);
  }
  return Number(text);
}

/** A whole number from `min` to `max`, `fallback` when not given (sizes other than a page's `limit`). */
export function boundedParameter(
  value: unknown,
  name: string,
  { fallback, min, max }: { fallback: number; min: number; max: number },
): number {
  const expected = `an integer from ${min} to ${max}`;
  const text = single(value, name, expected);
  if (text === undefined) {
    return fallback;
  }
  if (!/^\d{1,9}$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new InvalidParameterError(name, expected);
  }
  return Number(text);
}

/** A height, slot or round: a non-negative integer (heights of final blocks fit in 18 digits for ages). */
export function countParameter(value: unknown, name: string): bigint | undefined {
  const expected = 'a non-negative integer';
  const text = single(value, name, expected);
  if (text === undefined) {
    return undefined;
  }
  if (!/^\d{1,18}$/.test(text)) {
    throw new InvalidParameterError(name, expected);
  }
  return BigInt(text);
}

/** A position in a block or a contract's version: a non-negative integer that fits a 32-bit column. */
export function smallCountParameter(value: unknown, name: string): number | undefined {
  const count = countParameter(value, name);
  if (count !== undefined && count > 2_147_483_647n) {
    throw new InvalidParameterError(name, 'an integer from 0 to 2147483647');
  }
  return count === undefined ? undefined : Number(count);
}

export function requiredCountParameter(value: unknown, name: string): bigint {
  const count = countParameter(value, name);
  if (count === undefined) {
    throw new InvalidParameterError(name, 'a non-negative integer');
  }
  return count;
}

export function orderParameter(value: unknown, fallback: 'asc' | 'desc'): 'asc' | 'desc' {
  const text = single(value, 'order', '"asc" or "desc"');
  if (text === undefined) {
    return fallback;
  }
  if (text !== 'asc' && text !== 'desc') {
    throw new InvalidParameterError('order', '"asc" or "desc"');
  }
  return text;
}

/**
 * An identifier from the chain's registry (organisation, delegate, meter, receiver, contract), as
 * the registry's rules shape them; contract ids may hold '/'.
 */
export function idParameter(value: unknown, name: string): string | undefined {
  const expected = 'an identifier (letters, digits and . _ : / -, at most 128)';
  const text = single(value, name, expected);
  if (text === undefined) {
    return undefined;
  }
  if (!/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/.test(text)) {
    throw new InvalidParameterError(name, expected);
  }
  return text;
}

/** An identifier in the path (`/meters/:id`): as idParameter, and always given. */
export function requiredIdParameter(value: unknown, name: string): string {
  const id = idParameter(value, name);
  if (id === undefined) {
    throw new InvalidParameterError(name, 'an identifier');
  }
  return id;
}

/** A value out of a fixed set (a status, a kind). */
export function choiceParameter<T extends string>(
  value: unknown,
  name: string,
  choices: readonly T[],
): T | undefined {
  const expected = `one of ${choices.join(', ')}`;
  const text = single(value, name, expected);
  if (text === undefined) {
    return undefined;
  }
  if (!(choices as readonly string[]).includes(text)) {
    throw new InvalidParameterError(name, expected);
  }
  return text as T;
}
