/**
 * Canonical JSON: object keys sorted by UTF-16 code units, no whitespace, numbers as ECMAScript
 * prints them (the rules of RFC 8785, JCS). Anything hashed as JSON goes through here, so that a
 * value read back from a jsonb column hashes exactly as it did when written.
 *
 * It refuses what would not survive that round trip: non-finite numbers, integers beyond 2^53,
 * undefined inside arrays, functions, symbols, bigints, NUL characters (jsonb cannot store them) and
 * objects that are not plain.
 */
export function canonicalJson(value: unknown): string {
  return write(value, '$');
}

function write(value: unknown, path: string): string {
  if (value === null) {
    return 'null';
  }
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) {
        throw new TypeError(`${path}: ${value} has no JSON form`);
      }
      if (Number.isInteger(value) && !Number.isSafeInteger(value)) {
        throw new TypeError(`${path}: integer ${value} is beyond 2^53; send it as a string`);
      }
      return JSON.stringify(value);
    case 'string':
      if (value.includes('\u0000')) {
        throw new TypeError(`${path}: NUL characters cannot be stored`);
      }
      return JSON.stringify(value);
    case 'object':
      break;
    default:
      throw new TypeError(`${path}: a ${typeof value} has no JSON form`);
  }
  if (Array.isArray(value)) {
    return `[${value.map((item, i) => write(item, `${path}[${i}]`)).join(',')}]`;
  }
  if (value instanceof Date) {
    return JSON.stringify(value.toISOString());
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) {
    throw new TypeError(`${path}: only plain objects can be hashed as JSON`);
  }
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${write(v, `${path}.${k}`)}`).join(',')}}`;
}
