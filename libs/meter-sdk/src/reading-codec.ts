/**
 * How a meter writes each dimension of a reading as bytes (the M_1..M_v of the paper), and how a
 * receiver reads them back. Self-describing, one tag byte then the value:
 *
 *   0x01 | IEEE-754 float64, big-endian (8 bytes)     numbers (kWh, volts, amperes, degrees...)
 *   0x02 | UTF-8 text (the rest of the bytes)          states and codes ("normal", "alarm:E12")
 *
 * Numbers are finite; text is well-formed UTF-8 of at most 250 bytes without NUL. Both sides hold
 * to this: a receiver refuses a share that does not (the report is flagged and the meter asked to
 * upload it again).
 */
export type DimensionValue = number | string;

export type ReadingValues = Readonly<Record<string, DimensionValue>>;

const NUMBER = 0x01;
const TEXT = 0x02;

export class ReadingCodecError extends Error {
  readonly code = 'METER_SDK.BAD_READING';
}

export function encodeDimension(value: DimensionValue): Uint8Array {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) {
      throw new ReadingCodecError(`${value} is not a finite number`);
    }
    const out = Buffer.alloc(9);
    out[0] = NUMBER;
    out.writeDoubleBE(value, 1);
    return out;
  }
  const problem = textProblem(value);
  if (problem !== undefined) {
    throw new ReadingCodecError(problem);
  }
  const text = Buffer.from(value, 'utf8');
  if (text.length > MAX_TEXT_BYTES) {
    throw new ReadingCodecError(`a text dimension holds at most ${MAX_TEXT_BYTES} bytes`);
  }
  return Buffer.concat([Buffer.of(TEXT), text]);
}

const MAX_TEXT_BYTES = 250;

/** NUL and lone surrogates: receivers keep readings as jsonb, which can hold neither. */
function textProblem(text: string): string | undefined {
  if (text.includes('\u0000')) {
    return 'a text dimension cannot hold NUL characters';
  }
  if (/[\uD800-\uDFFF]/u.test(text)) {
    return 'a text dimension cannot hold a lone UTF-16 surrogate';
  }
  return undefined;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function decodeDimension(bytes: Uint8Array): DimensionValue {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  if (b[0] === NUMBER && b.length === 9) {
    const value = b.readDoubleBE(1);
    if (!Number.isFinite(value)) {
      throw new ReadingCodecError(`${value} is not a finite number`);
    }
    return value;
  }
  if (b[0] === TEXT) {
    // Read as strictly as the meter must write: a receiver stores what it reads (jsonb), and a value
    // it cannot store would stop it at that block, so such a share is refused here instead.
    if (b.length - 1 > MAX_TEXT_BYTES) {
      throw new ReadingCodecError(`a text dimension holds at most ${MAX_TEXT_BYTES} bytes`);
    }
    let text: string;
    try {
      text = strictUtf8.decode(b.subarray(1));
    } catch {
      throw new ReadingCodecError('a text dimension is not valid UTF-8');
    }
    const problem = textProblem(text);
    if (problem !== undefined) {
      throw new ReadingCodecError(problem);
    }
    return text;
  }
  throw new ReadingCodecError('not an encoded dimension value');
}

/** The reading as the meter's dimension list orders it; every dimension must be present. */
export function encodeReading(dimensions: readonly string[], values: ReadingValues): Uint8Array[] {
  return dimensions.map((name) => {
    const value = values[name];
    if (value === undefined) {
      throw new ReadingCodecError(`the reading has no value for "${name}"`);
    }
    return encodeDimension(value);
  });
}
