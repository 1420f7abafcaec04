import { generateKeyPair, initCrypto, PointNotOnCurveError, setupSystem, toHex } from '@app/crypto';

import { receiverKeyFor } from './receiver-keys';

describe('receiver keys shared by the meters of a process', () => {
  beforeAll(() => initCrypto());

  it('given the same receiver and key twice, should give the same instance (one g_j, one table), and a new one for a new key or another system', () => {
    const { params } = setupSystem();
    const listing = { id: 'grid-operator', publicKey: toHex(generateKeyPair().publicKey) };
    const first = receiverKeyFor(params, listing);
    expect(first.id).toBe('grid-operator');
    expect(receiverKeyFor(params, { ...listing })).toBe(first);

    const rekeyed = { id: 'grid-operator', publicKey: toHex(generateKeyPair().publicKey) };
    expect(receiverKeyFor(params, rekeyed)).not.toBe(first);
    expect(receiverKeyFor(params, { ...listing, id: 'control-center' })).not.toBe(first);
    expect(receiverKeyFor(setupSystem().params, listing)).not.toBe(first);
  });

  it('given a key that is not a point of G1, should refuse it, every time', () => {
    const { params } = setupSystem();
    const bad = { id: 'supplier', publicKey: `a0${'11'.repeat(47)}` };
    expect(() => receiverKeyFor(params, bad)).toThrow(PointNotOnCurveError);
    expect(() => receiverKeyFor(params, bad)).toThrow(PointNotOnCurveError);
  });
});
