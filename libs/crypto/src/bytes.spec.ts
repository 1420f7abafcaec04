import { fromBase64, toBase64 } from './bytes';
import { MalformedEncodingError } from './errors';

describe('fromBase64', () => {
  const bytes = Uint8Array.from([0xfb, 0xff, 0xbf, 0x10, 0x20]);
  const text = toBase64(bytes); // '+/+/ECA=': both alphabet-specific characters and padding

  it('given canonical padded base64 when decoded should return its bytes', () => {
    expect(Buffer.from(fromBase64(text, 'body')).equals(Buffer.from(bytes))).toBe(true);
    expect(fromBase64('', 'body')).toHaveLength(0);
  });

  it.each([
    ['the URL-safe alphabet', text.replace(/\+/g, '-').replace(/\//g, '_')],
    ['missing padding', text.replace(/=+$/, '')],
    ['whitespace', `${text.slice(0, 4)} ${text.slice(4)}`],
    ['a line break', `${text.slice(0, 4)}\n${text.slice(4)}`],
    ['padding in the middle', `${text.slice(0, 4)}=${text.slice(4)}`],
    ['a character outside the alphabet', `${text.slice(0, 3)}*${text.slice(4)}`],
  ])('given %s when decoded should refuse it as not standard base64', (_case, bad) => {
    expect(() => fromBase64(bad, 'body')).toThrow(MalformedEncodingError);
    expect(() => fromBase64(bad, 'body')).toThrow(/not padded standard base64/);
  });

  it('given stray bits in the last character when decoded should refuse it as non-canonical', () => {
    const stray = `${text.slice(0, -2)}B=`; // 'ECB=' decodes to the same bytes as 'ECA='
    expect(Buffer.from(stray, 'base64').equals(Buffer.from(bytes))).toBe(true);
    expect(() => fromBase64(stray, 'body')).toThrow(/non-canonical base64/);
  });
});
