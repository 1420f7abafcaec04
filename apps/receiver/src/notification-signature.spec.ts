import { BlsPublicKey, blsGenerateKey, initCrypto } from '@app/crypto';

import {
  decodeMerkleProof,
  encodeMerkleProof,
  NOTIFICATION_HEADERS,
  NOTIFICATION_MAX_AGE_MS,
  type NotificationBody,
  type NotificationSignature,
  signNotifications,
  verifyNotification,
} from './notification-signature';

const CHAIN = 'cbsg-test';
const HOUR = 3_600_000;

/** A notification's body as the receiver posts it, signed at `signedAt`. */
function notification(i: number, signedAt = Date.now()): NotificationBody {
  return {
    meterId: `meter-${i}`,
    trigger: 'ab'.repeat(32),
    action: { id: `action-${i}`, type: 'forced-trip', message: 'serious arrears' },
    from: 'grid-operator',
    signedAt,
  };
}

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
    const bodies = Array.from({ length: 13 }, (_, i) => JSON.stringify(notification(i)));
    const signed = signNotifications(bodies, operator.secret, CHAIN);

    expect(new Set(signed.map((s) => s.signature)).size).toBe(1);
    expect(new Set(signed.map((s) => s.root)).size).toBe(1);
    bodies.forEach((body, i) => {
      expect(
        verifyNotification(body, headers(signed[i]!), BlsPublicKey.fromBytes(operator.publicKey), CHAIN),
      ).toEqual(JSON.parse(body));
    });
    expect(signNotifications([], operator.secret, CHAIN)).toEqual([]);
    const [alone] = signNotifications([bodies[0]!], operator.secret, CHAIN);
    expect(
      verifyNotification(bodies[0]!, headers(alone!), BlsPublicKey.fromBytes(operator.publicKey), CHAIN),
    ).toEqual(JSON.parse(bodies[0]!));
  });

  it('given a changed body, another path, another signer, another chain or broken headers, should not verify', () => {
    const operator = blsGenerateKey();
    const bodies = [1, 2, 3].map((i) => JSON.stringify(notification(i)));
    const signed = signNotifications(bodies, operator.secret, CHAIN);
    const good = headers(signed[1]!);

    expect(
      verifyNotification(bodies[1]!, good, BlsPublicKey.fromBytes(operator.publicKey), CHAIN),
    ).toBeDefined();
    expect(
      verifyNotification(
        JSON.stringify(notification(9)),
        good,
        BlsPublicKey.fromBytes(operator.publicKey),
        CHAIN,
      ),
    ).toBeUndefined();
    // Another body of the batch with this one's path: the path belongs to its body alone.
    expect(
      verifyNotification(bodies[0]!, good, BlsPublicKey.fromBytes(operator.publicKey), CHAIN),
    ).toBeUndefined();
    expect(
      verifyNotification(bodies[1]!, good, BlsPublicKey.fromBytes(blsGenerateKey().publicKey), CHAIN),
    ).toBeUndefined();
    expect(
      verifyNotification(bodies[1]!, good, BlsPublicKey.fromBytes(operator.publicKey), 'another-chain'),
    ).toBeUndefined();
    // A root of another batch with this batch's signature.
    const other = signNotifications([JSON.stringify(notification(7))], operator.secret, CHAIN)[0]!;
    expect(
      verifyNotification(
        bodies[1]!,
        { ...good, [NOTIFICATION_HEADERS.root]: other.root },
        BlsPublicKey.fromBytes(operator.publicKey),
        CHAIN,
      ),
    ).toBeUndefined();
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
      ).toBeUndefined();
    }
    const { [NOTIFICATION_HEADERS.signature]: _dropped, ...unsigned } = good;
    expect(
      verifyNotification(bodies[1]!, unsigned, BlsPublicKey.fromBytes(operator.publicKey), CHAIN),
    ).toBeUndefined();
  });

  it('given a notification signed longer ago than maxAge, a replay, should refuse it; a fresh one should verify', () => {
    const operator = blsGenerateKey();
    const key = BlsPublicKey.fromBytes(operator.publicKey);
    const now = Date.now();
    const verify = (signedAt: number, freshness?: Parameters<typeof verifyNotification>[4]) => {
      const body = JSON.stringify(notification(1, signedAt));
      const [signed] = signNotifications([body], operator.secret, CHAIN);
      return verifyNotification(body, headers(signed!), key, CHAIN, freshness);
    };

    // Captured a day and a minute ago and posted again: validly signed, and refused.
    expect(verify(now - NOTIFICATION_MAX_AGE_MS - 60_000)).toBeUndefined();
    expect(verify(now - 2 * HOUR, { maxAgeMs: HOUR, now })).toBeUndefined();
    // Fresh, within maxAge, or a little ahead of the owner's clock: taken, parsed.
    expect(verify(now)).toEqual(notification(1, now));
    expect(verify(now - 2 * HOUR, { now })).toEqual(notification(1, now - 2 * HOUR));
    expect(verify(now + 60_000, { now })).toEqual(notification(1, now + 60_000));
    // Signed well in the future: refused, or it would be replayable for longer than maxAge.
    expect(verify(now + HOUR, { now })).toBeUndefined();
  });

  it('given a body without signedAt (signed before it had one) or not a notification, should refuse it', () => {
    const operator = blsGenerateKey();
    const { signedAt: _signedAt, ...undated } = notification(1);
    for (const body of [JSON.stringify(undated), '{"a":1}', 'not json']) {
      const [signed] = signNotifications([body], operator.secret, CHAIN);
      expect(
        verifyNotification(body, headers(signed!), BlsPublicKey.fromBytes(operator.publicKey), CHAIN),
      ).toBeUndefined();
    }
  });

  it('given a body whose action id was changed, should refuse it: the id to deduplicate on is the signed one', () => {
    const operator = blsGenerateKey();
    const body = JSON.stringify(notification(1));
    const [signed] = signNotifications([body], operator.secret, CHAIN);
    const key = BlsPublicKey.fromBytes(operator.publicKey);
    const renamed = JSON.stringify({
      ...notification(1),
      action: { ...notification(1).action, id: 'action-2' },
    });

    expect(verifyNotification(renamed, headers(signed!), key, CHAIN)).toBeUndefined();
    // Another Idempotency-Key header changes nothing: the body verifies with its own id.
    expect(
      verifyNotification(body, { ...headers(signed!), 'idempotency-key': 'action-2' }, key, CHAIN)?.action.id,
    ).toBe('action-1');
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
