import { countParameter, InvalidParameterError } from '../http/query-parameters';

// The console's own parameters, refused the way every endpoint of the node refuses one: a 400
// REQUEST.INVALID_PARAMETER whose message starts with the parameter's name.

/** A whole number from `min` to `max`, `fallback` when not given. */
export function rangeParameter(
  value: unknown,
  name: string,
  min: number,
  max: number,
  fallback: number,
): number {
  const expected = `an integer from ${min} to ${max}`;
  let count: bigint | undefined;
  try {
    count = countParameter(value, name);
  } catch {
    throw new InvalidParameterError(name, expected);
  }
  if (count === undefined) {
    return fallback;
  }
  if (count < BigInt(min) || count > BigInt(max)) {
    throw new InvalidParameterError(name, expected);
  }
  return Number(count);
}

/**
 * Free text to search for, at most `maxLength` characters; undefined when empty. Control characters
 * are refused: Postgres text cannot hold NUL (the search failed with a 500), and a search for the
 * others is no search a person types.
 */
export function textParameter(value: unknown, name: string, maxLength: number): string | undefined {
  const expected = `given once, as text of at most ${maxLength} characters without control characters`;
  if (value === undefined) {
    return undefined;
  }
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  if (typeof value !== 'string' || value.length > maxLength || /[\u0000-\u001f\u007f]/.test(value)) {
    throw new InvalidParameterError(name, expected);
  }
  return value.trim() || undefined;
}

/** Where a page of alarms goes on: a page's `next` (height:position), or a height to start below. */
export function alarmCursorParameter(value: unknown): { height: bigint; position?: number } | undefined {
  const expected = "a page's next (height:position) or a height";
  if (value === undefined) {
    return undefined;
  }
  if (typeof value !== 'string' || !/^\d{1,18}(:\d{1,9})?$/.test(value)) {
    throw new InvalidParameterError('cursor', expected);
  }
  const [height, position] = value.split(':');
  return { height: BigInt(height!), ...(position === undefined ? {} : { position: Number(position) }) };
}

/** A BullMQ job id as the outbox makes them (letters, digits and : . _ -). */
export function jobIdParameter(value: unknown): string {
  if (typeof value !== 'string' || !/^[A-Za-z0-9:._-]{1,200}$/.test(value)) {
    throw new InvalidParameterError('jobId', 'a job id (letters, digits and : . _ -, at most 200)');
  }
  return value;
}
