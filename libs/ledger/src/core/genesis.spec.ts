import { blockRulesOf, DEFAULT_BLOCK_RULES, type GenesisDocument } from './genesis';

describe('blockRulesOf', () => {
  const withConsensus = (consensus: GenesisDocument['consensus']) => ({ consensus }) as GenesisDocument;

  it('given a genesis that names no block rules (written before they existed), should give the defaults', () => {
    expect(blockRulesOf(withConsensus({ producers: 3, slotMs: 2_000 }))).toEqual(DEFAULT_BLOCK_RULES);
  });

  it('given a genesis that names some, should take those and default the rest', () => {
    expect(
      blockRulesOf(
        withConsensus({ producers: 3, slotMs: 2_000, maxBlockTransactions: 2, entryWindowMs: 60_000 }),
      ),
    ).toEqual({
      maxBlockTransactions: 2,
      entryWindowMs: 60_000,
      futureSkewMs: DEFAULT_BLOCK_RULES.futureSkewMs,
    });
  });
});
