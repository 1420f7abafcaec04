import { decodeDimension, encodeDimension, ReadingCodecError } from './reading-codec';

const text = (...bytes: number[]) => Uint8Array.of(0x02, ...bytes);
const number = (value: number) => {
  const out = Buffer.alloc(9);
  out[0] = 0x01;
  out.writeDoubleBE(value, 1);
  return out;
};

describe('reading codec', () => {
  it.each([[230.4], [-0.5], [0], ['normal'], ['alarm:E12'], ['Zürich ⚡'], ['']])(
    'given %j, when encoded and decoded, should give it back',
    (value) => {
      expect(decodeDimension(encodeDimension(value))).toBe(value);
    },
  );

  it.each([
    ['NUL in text', 'a\u0000b', 'NUL'],
    ['a lone surrogate', 'bad \ud800', 'lone UTF-16 surrogate'],
    ['text over 250 bytes', 'x'.repeat(251), 'at most 250 bytes'],
    ['NaN', Number.NaN, 'not a finite number'],
    ['Infinity', Number.POSITIVE_INFINITY, 'not a finite number'],
  ])('given %s, when encoded, should refuse it', (_, value, message) => {
    expect(() => encodeDimension(value)).toThrow(ReadingCodecError);
    expect(() => encodeDimension(value)).toThrow(message);
  });

  // What a meter that does not use this SDK may send: each would stop a receiver that stored it.
  it.each([
    ['NUL in text', text(0x61, 0x00, 0x62), 'NUL'],
    ['invalid UTF-8', text(0x61, 0xff, 0x62), 'not valid UTF-8'],
    ['an encoded surrogate (CESU)', text(0xed, 0xa0, 0x80), 'not valid UTF-8'],
    ['text over 250 bytes', text(...new Array<number>(251).fill(0x78)), 'at most 250 bytes'],
    ['NaN', number(Number.NaN), 'not a finite number'],
    ['-Infinity', number(Number.NEGATIVE_INFINITY), 'not a finite number'],
    ['an unknown tag', Uint8Array.of(0x07, 1, 2), 'not an encoded dimension value'],
    ['a short number', Uint8Array.of(0x01, 1, 2), 'not an encoded dimension value'],
  ])('given %s, when decoded, should refuse it with METER_SDK.BAD_READING', (_, bytes, message) => {
    let thrown: unknown;
    try {
      decodeDimension(bytes);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ReadingCodecError);
    expect(thrown).toMatchObject({ code: 'METER_SDK.BAD_READING' });
    expect((thrown as Error).message).toContain(message);
  });
});
