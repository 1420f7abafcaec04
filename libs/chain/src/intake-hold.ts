import type { IntakeHold } from '@app/intake';

/**
 * Blocks received and not checked yet at which a node stops taking meters' reports. One is normal
 * (the block being checked), two happen when blocks cross; three mean checking falls behind the
 * slots, and every report taken now makes the next blocks slower to check.
 */
export const BLOCKS_WAITING_HOLD = 3;

/** What the chain knows of its own progress, for intake's back-pressure. */
export interface ChainProgress {
  /** Blocks received and waiting to be checked (or being checked). */
  blocksWaiting: number;
  /** A catch-up poll saw a peer's final height above this node's head (or none has run yet). */
  peersAhead: boolean;
  /** Slots from the final tip's to the current one. */
  finalityLagSlots: number;
  /** INTAKE_HOLD_FINALITY_LAG_SLOTS (0: never hold for it). */
  holdAtFinalityLagSlots: number;
  slotMs: number;
}

/**
 * Whether meters should be turned away for now, and why. A node that falls behind the chain and
 * keeps taking reports falls further behind: its blocks come late, the others produce without them,
 * the delegates' votes split between branches, and finality waits until every node follows one
 * branch beyond the split heights (seen in the soak at 250 reports/s on 2 cores, where under the
 * same load it never did). So a node also holds meters when nothing has become final for a while,
 * whatever the cause: the CPU goes to blocks and votes until finality is back. Turned away, meters
 * retry after a slot, or at another node.
 */
export function intakeHoldOf(progress: ChainProgress): IntakeHold | undefined {
  const retryAfterSeconds = Math.max(1, Math.ceil(progress.slotMs / 1000));
  if (progress.peersAhead) {
    return { reason: 'its peers have made blocks final beyond its head', retryAfterSeconds };
  }
  if (progress.blocksWaiting >= BLOCKS_WAITING_HOLD) {
    return { reason: `${progress.blocksWaiting} blocks wait to be checked`, retryAfterSeconds };
  }
  if (progress.holdAtFinalityLagSlots > 0 && progress.finalityLagSlots >= progress.holdAtFinalityLagSlots) {
    return {
      reason: `no block has become final for ${progress.finalityLagSlots} slots`,
      retryAfterSeconds,
    };
  }
  return undefined;
}
