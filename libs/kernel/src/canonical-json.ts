/**
 * Canonical JSON: object keys sorted by UTF-16 code units, no whitespace, numbers as ECMAScript
 * prints them (the rules of RFC 8785, JCS). Anything hashed as JSON goes through here, so that a
 * value read back from a jsonb column hashes exactly as it did when written.
 *
 * It refuses what would not survive that round trip: non-finite numbers, integers beyond 2^53,
 * undefined inside arrays, functions, symbols, bigints, NUL characters and lone surrogates in strings
 * or keys (jsonb cannot store them) and objects that are not plain. Dates are written as ISO strings.
 */
export function canonicalJson(value: unknown): string {
  return canonicalJsonOf(value).json;
}

/**
 * The canonical JSON of a value, and whether parsing it gives back a value structurally equal to the
 * input (false when a Date became a string or an undefined property was dropped): callers that need
 * the stored form can then skip a JSON.parse for the common case.
 */
export function canonicalJsonOf(value: unknown): { json: string; sameAsInput: boolean } {
  reshaped = false;
  try {
    const json = write(value);
    return { json, sameAsInput: !reshaped };
  } catch (error) {
    if (error instanceof NotCanonicalizable) {
      // The fast path keeps no path; find where the bad value is only when there is one.
      throw new TypeError(`${locate(value, '$') ?? '$'}: ${error.message}`, { cause: error });
    }
    throw error;
  }
}

class NotCanonicalizable extends Error {}

/** Set by write() when the output would not parse back to the same structure. */
let reshaped = false;

function problemWith(value: unknown): string | undefined {
  switch (typeof value) {
    case 'number':
      if (!Number.isFinite(value)) {
        return `${value} has no JSON form`;
      }
      if (Number.isInteger(value) && !Number.isSafeInteger(value)) {
        return `integer ${value} is beyond 2^53; send it as a string`;
      }
      return undefined;
    case 'string':
      return textProblem(value);
    case 'boolean':
      return undefined;
    case 'object': {
      if (value === null || Array.isArray(value) || value instanceof Date) {
        return undefined;
      }
      const proto: unknown = Object.getPrototypeOf(value);
      return proto === Object.prototype || proto === null
        ? undefined
        : 'only plain objects can be hashed as JSON';
    }
    default:
      return `a ${typeof value} has no JSON form`;
  }
}

/**
 * With the u flag a surrogate pair is one code point, so this matches only NUL and lone surrogates:
 * jsonb refuses both (\u0000, and an unpaired \ud800 escape), and UTF-8 cannot encode the latter.
 */
// eslint-disable-next-line no-control-regex -- NUL is exactly what this looks for
const UNSTORABLE_CHARACTER = /[\u0000\uD800-\uDFFF]/u;

function textProblem(text: string): string | undefined {
  if (!UNSTORABLE_CHARACTER.test(text)) {
    return undefined;
  }
  return text.includes('\u0000')
    ? 'NUL characters cannot be stored'
    : 'a lone UTF-16 surrogate is not text (it has no UTF-8 form and cannot be stored)';
}

function write(value: unknown): string {
  const problem = problemWith(value);
  if (problem !== undefined) {
    throw new NotCanonicalizable(problem);
  }
  if (typeof value !== 'object' || value === null) {
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i += 1) {
      out += (i === 0 ? '' : ',') + write(value[i]);
    }
    return out + ']';
  }
  if (value instanceof Date) {
    reshaped = true;
    return JSON.stringify(value.toISOString());
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).sort();
  let out = '{';
  let first = true;
  for (const key of keys) {
    const item = record[key];
    if (item === undefined) {
      reshaped = true;
      continue;
    }
    const keyProblem = textProblem(key);
    if (keyProblem !== undefined) {
      throw new NotCanonicalizable(`key ${JSON.stringify(key)}: ${keyProblem}`);
    }
    out += (first ? '' : ',') + JSON.stringify(key) + ':' + write(item);
    first = false;
  }
  return out + '}';
}

function locate(value: unknown, path: string): string | undefined {
  if (problemWith(value) !== undefined) {
    return path;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i += 1) {
      const found = locate(value[i], `${path}[${i}]`);
      if (found) {
        return found;
      }
    }
  } else if (typeof value === 'object' && value !== null && !(value instanceof Date)) {
    for (const [key, item] of Object.entries(value)) {
      if (item !== undefined && textProblem(key) !== undefined) {
        return path;
      }
      const found = item === undefined ? undefined : locate(item, `${path}.${key}`);
      if (found) {
        return found;
      }
    }
  }
  return undefined;
}
