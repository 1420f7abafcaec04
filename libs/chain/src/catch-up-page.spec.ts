import { CATCH_UP_PAGE_TRANSACTIONS, nextCatchUpPageTransactions } from './catch-up-page';

describe('nextCatchUpPageTransactions: how much a catching-up node asks a peer for', () => {
  it('given pages that do not come, should ask for half each time, down to one block a page', () => {
    const sizes = [CATCH_UP_PAGE_TRANSACTIONS];
    while (sizes.length < 16) {
      sizes.push(nextCatchUpPageTransactions(sizes[sizes.length - 1]!, false));
    }
    expect(sizes.slice(0, 4)).toEqual([2_000, 1_000, 500, 250]);
    expect(sizes[sizes.length - 1]).toBe(1);
    expect(Math.min(...sizes)).toBe(1);
  });

  it('given pages that come again, should ask for twice as many each time, up to the full page', () => {
    expect(nextCatchUpPageTransactions(1, true)).toBe(2);
    expect(nextCatchUpPageTransactions(600, true)).toBe(1_200);
    expect(nextCatchUpPageTransactions(1_200, true)).toBe(CATCH_UP_PAGE_TRANSACTIONS);
    expect(nextCatchUpPageTransactions(CATCH_UP_PAGE_TRANSACTIONS, true)).toBe(CATCH_UP_PAGE_TRANSACTIONS);
  });
});
