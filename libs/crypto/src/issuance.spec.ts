import { checkPartialKey, generateKeyPair, initCrypto, setupSystem } from './index';
import { issuePartialKey, openPartialKey, PartialKeyTransportError, sealPartialKey } from './issuance';

describe('partial-key issuance and transport', () => {
  beforeAll(async () => {
    await initCrypto();
  });

  it('given the same identity and registration, when issued twice, should give the same key; another registration gives another', () => {
    const { masterKey, params } = setupSystem();
    const context = Buffer.from('registration-tx-1');
    const first = issuePartialKey(masterKey, params, 'meter-1', context);
    const again = issuePartialKey(masterKey, params, 'meter-1', context);
    expect(Buffer.from(again.alpha).equals(Buffer.from(first.alpha))).toBe(true);
    expect(Buffer.from(again.h.exposeBytes()).equals(Buffer.from(first.h.exposeBytes()))).toBe(true);
    expect(() => checkPartialKey(params, first)).not.toThrow();
    const other = issuePartialKey(masterKey, params, 'meter-1', Buffer.from('registration-tx-2'));
    expect(Buffer.from(other.alpha).equals(Buffer.from(first.alpha))).toBe(false);
    const otherId = issuePartialKey(masterKey, params, 'meter-2', context);
    expect(Buffer.from(otherId.alpha).equals(Buffer.from(first.alpha))).toBe(false);
  });

  it('given a partial key sealed to a holder, when opened by that holder, should pass the holder check; anyone else, or a changed byte, fails with a typed error', () => {
    const { masterKey, params } = setupSystem();
    const holder = generateKeyPair();
    const partial = issuePartialKey(masterKey, params, 'meter-9', Buffer.from('tx'));
    const sealed = sealPartialKey(partial, holder.publicKey);
    const opened = openPartialKey(sealed, holder.secret);
    expect(() => checkPartialKey(params, opened)).not.toThrow();
    expect(Buffer.from(opened.h.exposeBytes()).equals(Buffer.from(partial.h.exposeBytes()))).toBe(true);

    expect(() => openPartialKey(sealed, generateKeyPair().secret)).toThrow(PartialKeyTransportError);
    const tampered = { ...sealed, sealed: Uint8Array.from(sealed.sealed, (b, i) => (i === 20 ? b ^ 1 : b)) };
    expect(() => openPartialKey(tampered, holder.secret)).toThrow(PartialKeyTransportError);
    // Bound to the identity and alpha it was issued for.
    expect(() => openPartialKey({ ...sealed, id: 'meter-10' }, holder.secret)).toThrow(
      PartialKeyTransportError,
    );
  });
});
