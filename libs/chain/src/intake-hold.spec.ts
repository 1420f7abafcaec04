import { BLOCKS_WAITING_HOLD, intakeHoldOf } from './intake-hold';

describe('intakeHoldOf: when the chain turns meters away', () => {
  const keepingUp = { blocksWaiting: 1, peersAhead: false, slotMs: 2_000 };

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

  it('given slots shorter than a second, should still ask for at least a second', () => {
    expect(intakeHoldOf({ blocksWaiting: 5, peersAhead: false, slotMs: 500 })?.retryAfterSeconds).toBe(1);
  });
});
