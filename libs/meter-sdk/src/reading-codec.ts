/**
 * How a meter writes each dimension of a reading as bytes (the M_1..M_v of the paper), and how a
 * receiver reads them back. Self-describing, one tag byte then the value:
 *
 *   0x01 | IEEE-754 float64, big-endian (8 bytes)     numbers (kWh, volts, amperes, degrees...)
 *   0x02 | UTF-8 text (the rest of the bytes)          states and codes ("normal", "alarm:E12")
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
  const text = Buffer.from(value, 'utf8');
  if (text.length > 250) {
    throw new ReadingCodecError('a text dimension holds at most 250 bytes');
  }
  return Buffer.concat([Buffer.of(TEXT), text]);
}

export function decodeDimension(bytes: Uint8Array): DimensionValue {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  if (b[0] === NUMBER && b.length === 9) {
    return b.readDoubleBE(1);
  }
  if (b[0] === TEXT) {
    return b.subarray(1).toString('utf8');
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
