import fc from 'fast-check';

import { canonicalJson, canonicalJsonOf } from './canonical-json';

describe('canonicalJson', () => {
  it('given objects with keys in any order, when serialised, should sort keys and drop whitespace', () => {
    expect(canonicalJson({ b: 1, a: [true, null, 'x'], c: { z: 1.5, y: -0 } })).toBe(
      '{"a":[true,null,"x"],"b":1,"c":{"y":0,"z":1.5}}',
    );
  });

  it('given keys outside the Basic Latin range, when serialised, should order them by UTF-16 code units (RFC 8785)', () => {
    expect(canonicalJson({ '\u00e9': 1, e: 2, '\ud83d\ude00': 3, '\uff21': 4 })).toBe(
      '{"e":2,"é":1,"😀":3,"Ａ":4}',
    );
  });

  it('given dates and undefined properties, when serialised, should write ISO strings, drop undefined, and say the value was reshaped', () => {
    const at = new Date(Date.UTC(2026, 10, 26, 12, 0, 0, 5));
    expect(canonicalJsonOf({ at, gone: undefined })).toEqual({
      json: '{"at":"2026-11-26T12:00:00.005Z"}',
      sameAsInput: false,
    });
    expect(canonicalJsonOf({ n: 1 })).toEqual({ json: '{"n":1}', sameAsInput: true });
  });

  it.each([
    [{ n: Number.NaN }, '$.n: NaN has no JSON form'],
    [
      { deep: [1, { big: 2 ** 60 }] },
      '$.deep[1].big: integer 1152921504606847000 is beyond 2^53; send it as a string',
    ],
    [{ s: 'a\u0000b' }, '$.s: NUL characters cannot be stored'],
    [{ s: 'bad \ud800 reason' }, '$.s: a lone UTF-16 surrogate is not text'],
    [{ list: ['ok', '\udc00'] }, '$.list[1]: a lone UTF-16 surrogate is not text'],
    [{ o: { ['k\ud800']: 1 } }, '$.o: key "k\\ud800": a lone UTF-16 surrogate is not text'],
    [{ ['k\u0000']: 1 }, '$: key "k\\u0000": NUL characters cannot be stored'],
    [{ list: [undefined] }, '$.list[0]: a undefined has no JSON form'],
    [{ m: new Map() }, '$.m: only plain objects can be hashed as JSON'],
    [{ b: 10n }, '$.b: a bigint has no JSON form'],
  ])('given %j, when serialised, should refuse it and name where', (value, message) => {
    expect(() => canonicalJson(value)).toThrow(message);
  });

  it('given any JSON value, when serialised and parsed back, should give the same canonical text (the jsonb round trip)', () => {
    fc.assert(
      fc.property(fc.jsonValue({ noUnicodeString: false }), (value) => {
        let text: string;
        try {
          text = canonicalJson(value);
        } catch (error) {
          // Refusing is allowed (unsafe integers, NUL), but only with a message that says where.
          expect((error as Error).message).toMatch(/^\$/);
          return;
        }
        expect(canonicalJson(JSON.parse(text))).toBe(text);
      }),
      { numRuns: 300 },
    );
  });
});
