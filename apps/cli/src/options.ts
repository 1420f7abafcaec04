import { InvalidArgumentError } from 'commander';

/** A commander argument parser for a whole number no smaller than `min`. */
export function wholeNumber(min: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min) {
      throw new InvalidArgumentError(`must be a whole number, at least ${min}`);
    }
    return n;
  };
}

/** A comma-separated list, blanks dropped: "a, b,c" -> [a, b, c]. */
export function commaList(value: string): string[] {
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
}
