import { toHex } from '@app/crypto';
import type { Block, QuorumCertificate, RoundSchedule } from '@app/ledger';
import type { RegistryChange } from '@app/registry';

import type { FinalTip } from './chain.repository';

/** A valid block that is not final yet, with what validating it established. */
export interface Candidate {
  block: Block;
  hashHex: string;
  parentHex: string;
  /** A quorum certificate on this block, once gathered or carried by a child. */
  certificate?: QuorumCertificate;
  /** The registry changes of its transactions, in block order. */
  changes: RegistryChange[];
  /** "meter\0nonce" of its reports. */
  nonces: Set<string>;
  /** Hashes (hex) of its entries. */
  entries: Set<string>;
  /** The schedule of its round on its branch: who may produce it, who votes on it. */
  schedule: RoundSchedule;
}

/**
 * The blocks above the final tip, as a tree. Fork choice (which leaf is the head): the branch with
 * the highest certified block, then the longest, then the smallest hash. Below the final tip nothing
 * can change; branches that do not descend from it are pruned.
 */
export class ChainTree {
  private readonly byHash = new Map<string, Candidate>();
  private tip: FinalTip;
  private tipHex: string;

  constructor(tip: FinalTip) {
    this.tip = tip;
    this.tipHex = toHex(tip.hash);
  }

  get finalTip(): FinalTip {
    return this.tip;
  }

  get finalTipHex(): string {
    return this.tipHex;
  }

  get size(): number {
    return this.byHash.size;
  }

  get(hashHex: string): Candidate | undefined {
    return this.byHash.get(hashHex);
  }

  /** Whether a block above the final tip holds this entry (hash, hex). */
  holdsEntry(hashHex: string): boolean {
    for (const candidate of this.byHash.values()) {
      if (candidate.entries.has(hashHex)) {
        return true;
      }
    }
    return false;
  }

  all(): Candidate[] {
    return [...this.byHash.values()];
  }

  /** The candidate `producer` made for `slot`, if any (one producer, one block per slot). */
  atSlot(slot: bigint, producer: string): Candidate | undefined {
    for (const candidate of this.byHash.values()) {
      if (candidate.block.header.slot === slot && candidate.block.header.producer === producer) {
        return candidate;
      }
    }
    return undefined;
  }

  add(candidate: Candidate): void {
    this.byHash.set(candidate.hashHex, candidate);
  }

  /** The candidates from just above the final tip up to `hashHex`; undefined if it does not descend from the tip. */
  pathTo(hashHex: string): Candidate[] | undefined {
    const path: Candidate[] = [];
    let at = hashHex;
    while (at !== this.tipHex) {
      const candidate = this.byHash.get(at);
      if (!candidate) {
        return undefined;
      }
      path.push(candidate);
      at = candidate.parentHex;
    }
    return path.reverse();
  }

  /** The parent of a block at `parentHex`: the final tip or a candidate (undefined: unknown). */
  parent(
    parentHex: string,
  ): { height: bigint; slot: bigint; hash: Uint8Array; candidate?: Candidate } | undefined {
    if (parentHex === this.tipHex) {
      return { height: this.tip.height, slot: this.tip.slot, hash: this.tip.hash };
    }
    const candidate = this.byHash.get(parentHex);
    return candidate && this.pathTo(parentHex)
      ? {
          height: candidate.block.height,
          slot: candidate.block.header.slot,
          hash: candidate.block.hash,
          candidate,
        }
      : undefined;
  }

  /** The head by the fork-choice rule: a candidate, or undefined when the final tip is the head. */
  head(): Candidate | undefined {
    let best: { candidate: Candidate; certified: bigint } | undefined;
    for (const candidate of this.byHash.values()) {
      const path = this.pathTo(candidate.hashHex);
      if (!path) {
        continue;
      }
      const certified = path.reduce((h, c) => (c.certificate && c.block.height > h ? c.block.height : h), 0n);
      if (!best || better(candidate, certified, best.candidate, best.certified)) {
        best = { candidate, certified };
      }
    }
    return best?.candidate;
  }

  /** The highest certified block (the final tip counts as certified): a node votes only for blocks extending it. */
  highestCertified(): { height: bigint; hashHex: string } {
    let best = { height: this.tip.height, hashHex: this.tipHex };
    for (const candidate of this.byHash.values()) {
      if (candidate.certificate && candidate.block.height > best.height && this.pathTo(candidate.hashHex)) {
        best = { height: candidate.block.height, hashHex: candidate.hashHex };
      }
    }
    return best;
  }

  /** Whether `hashHex` descends from (or is) `ancestorHex`. */
  extends(hashHex: string, ancestorHex: string): boolean {
    if (hashHex === ancestorHex || ancestorHex === this.tipHex) {
      return this.pathTo(hashHex) !== undefined || hashHex === this.tipHex;
    }
    return (this.pathTo(hashHex) ?? []).some((c) => c.hashHex === ancestorHex);
  }

  /** Moves the final tip to `tip` (a candidate just made final) and forgets what no longer matters. */
  advance(tip: FinalTip): Candidate[] {
    this.tip = tip;
    this.tipHex = toHex(tip.hash);
    const dropped: Candidate[] = [];
    for (const candidate of [...this.byHash.values()]) {
      if (candidate.block.height <= tip.height || !this.pathTo(candidate.hashHex)) {
        this.byHash.delete(candidate.hashHex);
        dropped.push(candidate);
      }
    }
    return dropped;
  }
}

function better(a: Candidate, aCertified: bigint, b: Candidate, bCertified: bigint): boolean {
  if (aCertified !== bCertified) {
    return aCertified > bCertified;
  }
  if (a.block.height !== b.block.height) {
    return a.block.height > b.block.height;
  }
  return a.hashHex < b.hashHex;
}
