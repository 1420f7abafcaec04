import { holdsBaseMajority, quorumSize } from './quorum';

/**
 * When a block becomes final (irreversible), by two rules (DESIGN.md section 4):
 *
 * 1. Certificates (the fast rule). A block is certified when a quorum certificate on it exists (the
 *    next block carries it). If a block and its child are both certified, that block and all its
 *    ancestors are final. Delegates vote at most once per height and only for blocks that extend
 *    the highest certified block they know, so two conflicting blocks cannot both reach this state
 *    unless more than a third of the voters break the rules. With votes on time, a block is final
 *    when its grandchild is produced: about 2-3 slots after it.
 *
 * 2. Producers (classic DPoS, the fallback when certificates are missing): a block is final once
 *    more than two thirds of its round's elected producers have produced it or a block on top of it.
 *    With N producers this takes about 2N/3 slots (over two minutes with 101 producers and 2 s slots).
 *    Only members of the block's round's elected set count: a delegate elected in a later round
 *    only, however many blocks it makes on top, is not one of the producers the rule asks about.
 *
 * A node's final height is the higher of the two; it never decreases.
 */
export interface ChainLink {
  height: bigint;
  producer: string;
  /** A quorum certificate on this block is known. */
  certified: boolean;
  /** The elected set of this block's round: for rule 2, only its members count, and two thirds of it. */
  elected: readonly string[];
  /** The round's stake-elected set (RoundSchedule.base): the producers above must hold most of it too. */
  base?: readonly string[];
}

/** Highest height final by rule 1, or 0n. `links` are consecutive blocks of one chain, ascending. */
export function finalByCertificates(links: readonly ChainLink[]): bigint {
  for (let i = links.length - 2; i >= 0; i -= 1) {
    if (links[i]!.certified && links[i + 1]!.certified) {
      return links[i]!.height;
    }
  }
  return 0n;
}

/** Highest height final by rule 2, or 0n. */
export function finalByProducers(links: readonly ChainLink[]): bigint {
  const producersAbove = new Set<string>();
  for (let i = links.length - 1; i >= 0; i -= 1) {
    const link = links[i]!;
    producersAbove.add(link.producer);
    const elected = new Set(link.elected);
    const counted = [...producersAbove].filter((producer) => elected.has(producer));
    if (counted.length >= quorumSize(elected.size) && (!link.base || holdsBaseMajority(counted, link.base))) {
      return link.height;
    }
  }
  return 0n;
}

export function finalHeight(links: readonly ChainLink[], previous: bigint): bigint {
  const byRules = [finalByCertificates(links), finalByProducers(links)].reduce((a, b) => (a > b ? a : b));
  return byRules > previous ? byRules : previous;
}
