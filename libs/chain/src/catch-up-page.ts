/**
 * Transactions in a page of final blocks for catch-up (GET /p2p/blocks), past its first block: about
 * 3 MB of reports, which a peer serves, and a catching-up node checks, well within the timeout.
 */
export const CATCH_UP_PAGE_TRANSACTIONS = 2_000;

/** Blocks in a page of final blocks for catch-up, at most. */
export const CATCH_UP_PAGE_BLOCKS = 50;

/**
 * How long a catch-up page may take. A peer that serves it is busy with its own load, and a node that
 * gave up on each page after the 10 s of other requests never caught up under load (soak at 300/s).
 */
export const CATCH_UP_PAGE_TIMEOUT_MS = 30_000;

/**
 * The transactions to ask for in the next page: half after a page that did not come (too much for
 * the peer, or for us, right now), down to one block a page, which a peer always serves whole; twice
 * as many after one that came, back up to CATCH_UP_PAGE_TRANSACTIONS.
 */
export function nextCatchUpPageTransactions(current: number, served: boolean): number {
  return served ? Math.min(CATCH_UP_PAGE_TRANSACTIONS, current * 2) : Math.max(1, Math.floor(current / 2));
}
