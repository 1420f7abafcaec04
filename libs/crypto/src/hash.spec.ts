import {
  DST_H1,
  DST_H2,
  DST_H3,
  expandMessageXmd,
  fIndex,
  H4_INFO,
  H4_SALT,
  TAG_F_INDEX,
  TAG_KEY_FINGERPRINT,
  TAG_REPORT_ID,
} from './hash';
import { initCrypto } from './mcl';
import { BLS_POP_DST, BLS_SIGNATURE_DST } from './bls';

beforeAll(async () => {
  await initCrypto();
});

describe('expand_message_xmd', () => {
  // RFC 9380, appendix K.1 (expand_message_xmd with SHA-256, DST QUUX-V01-CS02-with-expander-SHA256-128).
  it.each([
    ['', 32, '68a985b87eb6b46952128911f2a4412bbc302a9d759667f87f7a21d803f07235'],
    ['abc', 32, 'd8ccab23b5985ccea865c6c97b6e5b8350e794e603b4b97902f53a8a0d605615'],
  ])('given the RFC 9380 vector msg "%s" len %d when expanded should match', (msg, len, expected) => {
    const out = expandMessageXmd(Buffer.from(msg), 'QUUX-V01-CS02-with-expander-SHA256-128', len);
    expect(Buffer.from(out).toString('hex')).toBe(expected);
  });

  it('given a message in parts when expanded should equal the expansion of the concatenation', () => {
    const a = Buffer.from('hello ');
    const b = Buffer.from('world');
    expect(expandMessageXmd([a, b], 'X', 96)).toEqual(expandMessageXmd(Buffer.concat([a, b]), 'X', 96));
  });
});

describe('domain separation', () => {
  it('given every tag and DST of the scheme when compared should all be distinct', () => {
    const tags = [
      DST_H1,
      DST_H2,
      DST_H3,
      H4_SALT,
      TAG_F_INDEX,
      TAG_KEY_FINGERPRINT,
      TAG_REPORT_ID,
      BLS_SIGNATURE_DST,
      BLS_POP_DST,
    ];
    expect(new Set(tags).size).toBe(tags.length);
    expect(H4_INFO).not.toBe(H4_SALT);
  });

  it('given receiver ids when indexed should give stable non-zero 64-bit indexes that differ per id', () => {
    const ids = Array.from({ length: 200 }, (_, i) => `receiver-${i}`);
    const indexes = ids.map(fIndex);
    expect(new Set(indexes).size).toBe(ids.length);
    for (const j of indexes) {
      expect(j >= 1n && j < 1n << 64n).toBe(true);
    }
    expect(fIndex('cc')).toBe(fIndex('cc'));
  });
});
