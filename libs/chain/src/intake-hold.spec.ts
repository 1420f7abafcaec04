import { BLOCKS_WAITING_HOLD, intakeHoldOf } from './intake-hold';

describe('intakeHoldOf: when the chain turns meters away', () => {
  const keepingUp = {
    blocksWaiting: 1,
    peersAhead: false,
    finalityLagSlots: 3,
    holdAtFinalityLagSlots: 20,
    slotMs: 2_000,
  };

  it('given a node that keeps up with the blocks, should take reports', () => {
    expect(intakeHoldOf(keepingUp)).toBeUndefined();
    expect(intakeHoldOf({ ...keepingUp, blocksWaiting: BLOCKS_WAITING_HOLD - 1 })).toBeUndefined();
  });

  it('given blocks piling up to be checked, should hold meters for a slot and say how many wait', () => {
    expect(intakeHoldOf({ ...keepingUp, blocksWaiting: BLOCKS_WAITING_HOLD })).toEqual({
      reason: `${BLOCKS_WAITING_HOLD} blocks wait to be checked`,
      retryAfterSeconds: 2,
    });
  });

  it('given peers final beyond its head, should hold meters until it has caught up', () => {
    expect(intakeHoldOf({ ...keepingUp, blocksWaiting: 0, peersAhead: true })).toMatchObject({
      reason: 'its peers have made blocks final beyond its head',
    });
  });

  it('given no block final for the configured number of slots, should hold meters until finality is back', () => {
    expect(intakeHoldOf({ ...keepingUp, finalityLagSlots: 19 })).toBeUndefined();
    expect(intakeHoldOf({ ...keepingUp, finalityLagSlots: 20 })).toMatchObject({
      reason: 'no block has become final for 20 slots',
    });
    expect(
      intakeHoldOf({ ...keepingUp, finalityLagSlots: 5_000, holdAtFinalityLagSlots: 0 }),
    ).toBeUndefined();
  });

  it('given slots shorter than a second, should still ask for at least a second', () => {
    expect(intakeHoldOf({ ...keepingUp, blocksWaiting: 5, slotMs: 500 })?.retryAfterSeconds).toBe(1);
  });
});
