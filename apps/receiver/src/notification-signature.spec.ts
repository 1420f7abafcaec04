import { BlsPublicKey, blsGenerateKey, initCrypto } from '@app/crypto';

import {
  decodeMerkleProof,
  encodeMerkleProof,
  NOTIFICATION_HEADERS,
  type NotificationSignature,
  signNotifications,
  verifyNotification,
} from './notification-signature';

const CHAIN = 'cbsg-test';

function headers(signed: NotificationSignature): Record<string, string> {
  return {
    [NOTIFICATION_HEADERS.signature]: signed.signature,
    [NOTIFICATION_HEADERS.root]: signed.root,
    [NOTIFICATION_HEADERS.proof]: signed.proof,
  };
}

describe('notification signatures: one BLS signature per batch, a Merkle path per notification', () => {
  beforeAll(async () => {
    await initCrypto();
  });

  it('given a batch, each notification should verify alone, with one signature shared by all', () => {
    const operator = blsGenerateKey();
    const bodies = Array.from({ length: 13 }, (_, i) =>
      JSON.stringify({ meterId: `meter-${i}`, action: 'notify' }),
    );
    const signed = signNotifications(bodies, operator.secret, CHAIN);

    expect(new Set(signed.map((s) => s.signature)).size).toBe(1);
    expect(new Set(signed.map((s) => s.root)).size).toBe(1);
    bodies.forEach((body, i) => {
      expect(
        verifyNotification(body, headers(signed[i]!), BlsPublicKey.fromBytes(operator.publicKey), CHAIN),
      ).toBe(true);
    });
    expect(signNotifications([], operator.secret, CHAIN)).toEqual([]);
    const [alone] = signNotifications([bodies[0]!], operator.secret, CHAIN);
    expect(
      verifyNotification(bodies[0]!, headers(alone!), BlsPublicKey.fromBytes(operator.publicKey), CHAIN),
    ).toBe(true);
  });

  it('given a changed body, another path, another signer, another chain or broken headers, should not verify', () => {
    const operator = blsGenerateKey();
    const bodies = ['{"a":1}', '{"a":2}', '{"a":3}'];
    const signed = signNotifications(bodies, operator.secret, CHAIN);
    const good = headers(signed[1]!);

    expect(verifyNotification('{"a":9}', good, BlsPublicKey.fromBytes(operator.publicKey), CHAIN)).toBe(
      false,
    );
    // Another body of the batch with this one's path: the path belongs to its body alone.
    expect(verifyNotification(bodies[0]!, good, BlsPublicKey.fromBytes(operator.publicKey), CHAIN)).toBe(
      false,
    );
    expect(
      verifyNotification(bodies[1]!, good, BlsPublicKey.fromBytes(blsGenerateKey().publicKey), CHAIN),
    ).toBe(false);
    expect(
      verifyNotification(bodies[1]!, good, BlsPublicKey.fromBytes(operator.publicKey), 'another-chain'),
    ).toBe(false);
    // A root of another batch with this batch's signature.
    const other = signNotifications(['{"b":1}'], operator.secret, CHAIN)[0]!;
    expect(
      verifyNotification(
        bodies[1]!,
        { ...good, [NOTIFICATION_HEADERS.root]: other.root },
        BlsPublicKey.fromBytes(operator.publicKey),
        CHAIN,
      ),
    ).toBe(false);
    for (const [name, value] of [
      [NOTIFICATION_HEADERS.signature, 'zz'],
      [NOTIFICATION_HEADERS.root, ''],
      [NOTIFICATION_HEADERS.proof, '1/3'],
      [NOTIFICATION_HEADERS.proof, '7/3/'],
    ] as const) {
      expect(
        verifyNotification(
          bodies[1]!,
          { ...good, [name]: value },
          BlsPublicKey.fromBytes(operator.publicKey),
          CHAIN,
        ),
      ).toBe(false);
    }
    const { [NOTIFICATION_HEADERS.signature]: _dropped, ...unsigned } = good;
    expect(verifyNotification(bodies[1]!, unsigned, BlsPublicKey.fromBytes(operator.publicKey), CHAIN)).toBe(
      false,
    );
  });

  it('given a proof, its header form should read back as the same proof, and junk should not read at all', () => {
    const proof = { index: 5, leafCount: 9, siblings: [Buffer.alloc(32, 1), Buffer.alloc(32, 2)] };
    const text = encodeMerkleProof(proof);
    expect(text).toBe(`5/9/${'01'.repeat(32)},${'02'.repeat(32)}`);
    expect(decodeMerkleProof(text)).toEqual(proof);
    expect(decodeMerkleProof('0/1/')).toEqual({ index: 0, leafCount: 1, siblings: [] });
    for (const junk of [
      '',
      '5/9',
      `5/9/${'01'.repeat(31)}`,
      `x/9/${'01'.repeat(32)}`,
      `5/9/${'0G'.repeat(32)}`,
    ]) {
      expect(decodeMerkleProof(junk)).toBeUndefined();
    }
  });
});
