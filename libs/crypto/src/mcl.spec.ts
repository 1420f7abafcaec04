import { CryptoNotInitialisedError } from './errors';
import { decodeG1 } from './points';
import { SecretScalar } from './secret';
import { setupSystem } from './system';
import { initCrypto, isCryptoReady } from './mcl';
import { expectCode } from '../test/expect-error';

// This file must not initialise the library before the first test: jest gives every test file its
// own module registry, so mcl is fresh here.
describe('initCrypto', () => {
  it('given an uninitialised library when a public function is called should throw CRYPTO.NOT_INITIALISED', () => {
    expect(isCryptoReady()).toBe(false);
    expect(() => setupSystem()).toThrow(CryptoNotInitialisedError);
    expectCode(() => SecretScalar.random(), 'CRYPTO.NOT_INITIALISED');
    expect(() => decodeG1(new Uint8Array(48), 'x')).toThrow(CryptoNotInitialisedError);
  });

  it('given concurrent callers when initialising should initialise once and then work', async () => {
    await Promise.all([initCrypto(), initCrypto(), initCrypto()]);
    expect(isCryptoReady()).toBe(true);
    await initCrypto();
    expect(setupSystem().params.toBytes()).toHaveLength(144);
  });
});
