import fc from 'fast-check';

import { createTestDatabase, type TestDatabase } from '@app/testing';

import { canonicalJson } from '../src/canonical-json';

/**
 * Every value the ledger hashes as canonical JSON is also stored as jsonb (transaction bodies,
 * events, contracts). A value that canonicalJson accepts and Postgres refuses would be sealed into a
 * block that no node can then finalize, so the two must agree.
 */
describe('canonical JSON and Postgres jsonb', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase({ poolSize: 2 });
  });

  afterAll(async () => {
    await db.drop();
  });

  /** The canonical text after a trip through jsonb, or the refusal of either side. */
  async function throughJsonb(value: unknown): Promise<{ canonical: string; stored: string } | 'refused'> {
    let canonical: string;
    try {
      canonical = canonicalJson(value);
    } catch {
      return 'refused';
    }
    const { rows } = await db.pool.query<{ stored: unknown }>('SELECT $1::jsonb AS stored', [canonical]);
    return { canonical, stored: canonicalJson(rows[0]!.stored) };
  }

  it.each([
    ['a lone high surrogate', { reason: 'bad \ud800 reason' }],
    ['a lone low surrogate', { description: '\udc00' }],
    ['a reversed pair', { name: '\udc00\ud800' }],
    ['a lone surrogate in a key', { ['k\ud800']: 1 }],
    ['NUL in a key', { ['k\u0000']: 1 }],
  ])(
    'given %s, when hashed as canonical JSON, should be refused before Postgres sees it',
    async (_, value) => {
      await expect(throughJsonb(value)).resolves.toBe('refused');
    },
  );

  it('given a surrogate pair (an emoji) and other non-ASCII text, should store and read back the same text', async () => {
    const result = await throughJsonb({ name: 'Zürich ⚡ \ud83d\udd0c', clé: 'ünïcode' });
    expect(result).not.toBe('refused');
    const { canonical, stored } = result as { canonical: string; stored: string };
    expect(stored).toBe(canonical);
  });

  it('given any JSON value with arbitrary UTF-16, what canonicalJson accepts jsonb stores unchanged', async () => {
    // Any UTF-16 code unit, so that lone surrogates and broken pairs occur (fast-check's own string
    // units only make whole code points).
    const codeUnit = fc.integer({ min: 0, max: 0xffff }).map((unit) => String.fromCharCode(unit));
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(
          fc.string({ unit: codeUnit, maxLength: 6 }),
          fc.oneof(fc.string({ unit: codeUnit, maxLength: 12 }), fc.integer(), fc.boolean()),
          { maxKeys: 4 },
        ),
        async (value) => {
          const result = await throughJsonb(value);
          if (result !== 'refused') {
            expect(result.stored).toBe(result.canonical);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
