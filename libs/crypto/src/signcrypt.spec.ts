import fc from 'fast-check';

import { bytesEqual } from './bytes';
import { FixedBaseComb } from './fixed-base';
import { FixedBaseGT } from './gt-power';
import { receiverPower, receiverSecret } from './keys';
import { initCrypto, mcl, ready } from './mcl';
import { decodeG1 } from './points';
import { encodeReport, Report } from './report';
import { scalarOf, SecretScalar } from './secret';
import { verifyReport } from './signature';
import { createMeterSigncrypterWithRandom, MeterSigncrypter, SharingPolicy } from './signcrypt';
import { systemPoints } from './system';
import { ShareDecryptor } from './unsigncrypt';
import { expectCode } from '../test/expect-error';
import { seededRandom } from '../test/seeded-random';
import { buildWorld, makeReceiver, sampleReading, World } from '../test/world';

let world: World;
const T0 = 1_795_000_000_000;

beforeAll(async () => {
  await initCrypto();
  world = buildWorld({ meters: 2, receivers: ['cc', 'grid-operator', 'supplier', 'auditor', 'backup'] });
});

const full = (v: number): number[] => Array.from({ length: v }, (_, i) => i);

function policy(receivers: readonly number[], dims: readonly (readonly number[])[], v = 10): SharingPolicy {
  return {
    dimensionCount: v,
    receivers: receivers.map((r, j) => ({ receiver: world.receivers[r]!.pub, dimensions: dims[j] ?? [] })),
  };
}

describe('property 1: decryption key agreement', () => {
  it('given random keys and a random d when the meter computes g^d and the receiver e(D, x_R*Ypub2) should agree', () => {
    const { P1 } = ready();
    const { ypub2 } = systemPoints(world.params);
    for (const r of world.receivers) {
      const d = scalarOf(SecretScalar.random());
      const meterSide = receiverPower(r.pub, d);
      const receiverSide = mcl.pairing(mcl.mul(P1, d), mcl.mul(ypub2, scalarOf(r.secret)));
      const precomputed = mcl.finalExp(
        mcl.precomputedMillerLoop(mcl.mul(P1, d), receiverSecret(r.priv).lines),
      );
      expect(meterSide.isEqual(receiverSide)).toBe(true);
      expect(precomputed.isEqual(receiverSide)).toBe(true);
    }
  });

  it('given the fixed-base table for g_j when raising to random exponents should equal the generic GT power', () => {
    const g = mcl.pairing(ready().P1, systemPoints(world.params).ypub2);
    const table = new FixedBaseGT(g);
    for (let i = 0; i < 5; i++) {
      const e = scalarOf(SecretScalar.random());
      expect(table.pow(e).isEqual(mcl.pow(g, e))).toBe(true);
    }
  });

  it('given the fixed-base combs for P1 and Q when multiplying random scalars should equal the generic multiplication', () => {
    const { P1 } = ready();
    const { q } = systemPoints(world.params);
    const c1 = new FixedBaseComb(P1);
    const c2 = new FixedBaseComb(q);
    const small = new mcl.Fr();
    small.setInt(255);
    for (const e of [...Array.from({ length: 4 }, () => scalarOf(SecretScalar.random())), small]) {
      expect(c1.mul(e).isEqual(mcl.mul(P1, e))).toBe(true);
      expect(c2.mul(e).isEqual(mcl.mul(q, e))).toBe(true);
    }
    expect(c1.mul(new mcl.Fr()).isZero()).toBe(true);
  });

  it('given a receiver key used more than a few times when powering should switch to the table and stay correct', () => {
    const r = makeReceiver(world.params, 'table-user');
    const g = mcl.pairing(decodeG1(r.pub.publicKey, 'Y'), systemPoints(world.params).ypub2);
    for (let i = 0; i < 10; i++) {
      const e = scalarOf(SecretScalar.random());
      expect(receiverPower(r.pub, e).isEqual(mcl.pow(g, e))).toBe(true);
    }
  });
});

describe('signcryption and unsigncryption', () => {
  it('given random dimension splits and receiver sets when signcrypted should give every receiver exactly its dimensions and nothing else', () => {
    const reading = sampleReading(10, 77);
    fc.assert(
      fc.property(
        fc
          .uniqueArray(fc.integer({ min: 0, max: world.receivers.length - 1 }), {
            minLength: 1,
            maxLength: 5,
          })
          .chain((receivers) =>
            fc.tuple(
              fc.constant(receivers),
              fc.array(fc.uniqueArray(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 10 }), {
                minLength: receivers.length,
                maxLength: receivers.length,
              }),
            ),
          ),
        ([receivers, dims]) => {
          const meter = world.meters[0]!;
          const p = policy(receivers, dims);
          const report = MeterSigncrypter.create(world.params, meter.key, p).signcrypt(reading, T0);
          expect(verifyReport(world.params, report, meter.registered).valid).toBe(true);
          expect(report.receivers.map((r) => r.id)).toEqual(receivers.map((r) => world.receivers[r]!.id));
          receivers.forEach((r, j) => {
            const got = new ShareDecryptor(world.receivers[r]!.priv).open(report).dimensions;
            const want = [...new Set(dims[j])].sort((a, b) => a - b);
            expect(got.map((d) => d.index)).toEqual(want);
            for (const d of got) {
              expect(bytesEqual(d.value, reading[d.index]!)).toBe(true);
            }
          });
          // A receiver outside the set gets nothing.
          const outsider = world.receivers.findIndex((_, i) => !receivers.includes(i));
          if (outsider >= 0) {
            expectCode(
              () => new ShareDecryptor(world.receivers[outsider]!.priv).open(report),
              'CRYPTO.SHARE_NOT_FOUND',
            );
          }
        },
      ),
      { numRuns: 12 },
    );
  });

  it('given per-report mode when several reports are made should use a fresh D each time and increasing nonces', () => {
    const s = MeterSigncrypter.create(world.params, world.meters[0]!.key, policy([0], [full(10)]), {
      nextNonce: 41n,
    });
    const reports = [0, 1, 2].map((i) => s.signcrypt(sampleReading(10), T0 + i));
    expect(new Set(reports.map((r) => Buffer.from(r.d).toString('hex'))).size).toBe(3);
    expect(reports.map((r) => r.nonce)).toEqual([41n, 42n, 43n]);
    expect(reports.map((r) => r.epoch)).toEqual([0, 1, 2].map((i) => ({ startedAt: T0 + i, seq: 0 })));
    expect(s.nextNonce).toBe(44n);
  });

  it('given a key epoch when its count or age runs out should keep one D within it and open a new one after', () => {
    const s = MeterSigncrypter.create(world.params, world.meters[0]!.key, policy([0, 1], [full(10), [3]]), {
      epoch: { maxReports: 3, maxAgeMs: 10_000 },
    });
    const at = [0, 1000, 2000, 3000, 4000, 20_000, 20_001];
    const reports = at.map((t) => s.signcrypt(sampleReading(10), T0 + t));
    const ds = reports.map((r) => Buffer.from(r.d).toString('hex'));
    expect(ds[0]).toBe(ds[1]);
    expect(ds[1]).toBe(ds[2]);
    expect(ds[3]).not.toBe(ds[2]); // count
    expect(ds[4]).toBe(ds[3]);
    expect(ds[5]).not.toBe(ds[4]); // age
    expect(ds[6]).toBe(ds[5]);
    expect(reports.map((r) => r.epoch.seq)).toEqual([0, 1, 2, 0, 1, 0, 1]);
    // A receiver caches one key per (meter, D): three epochs, three pairings.
    const dec = new ShareDecryptor(world.receivers[0]!.priv);
    for (const r of reports) {
      expect(dec.open(r).dimensions).toHaveLength(10);
    }
    expect(dec.cachedKeys).toBe(3);
  });

  it('given a clock that goes back within an epoch when signing should open a new epoch', () => {
    const s = MeterSigncrypter.create(world.params, world.meters[0]!.key, policy([0], [[0]]), {
      epoch: { maxReports: 10, maxAgeMs: 60_000 },
    });
    const a = s.signcrypt(sampleReading(10), T0 + 5000);
    const b = s.signcrypt(sampleReading(10), T0);
    expect(b.d).not.toEqual(a.d);
  });

  it('given the same seeded randomness twice when signcrypting should give identical reports (the test-only source)', () => {
    const make = (): Report =>
      createMeterSigncrypterWithRandom(
        seededRandom('same'),
        world.params,
        world.meters[0]!.key,
        policy([0], [[1, 2]]),
      ).signcrypt(sampleReading(10), T0);
    expect(make().bytes).toEqual(make().bytes);
  });

  it('given invalid policies and readings when creating or signing should fail with typed errors', () => {
    const k = world.meters[0]!.key;
    expectCode(() => MeterSigncrypter.create(world.params, k, policy([], [])), 'CRYPTO.POLICY_INVALID');
    expectCode(
      () => MeterSigncrypter.create(world.params, k, policy([0, 0], [[0], [1]])),
      'CRYPTO.POLICY_INVALID',
    );
    expectCode(() => MeterSigncrypter.create(world.params, k, policy([0], [[10]])), 'CRYPTO.POLICY_INVALID');
    expectCode(() => MeterSigncrypter.create(world.params, k, policy([0], [[]])), 'CRYPTO.POLICY_INVALID');
    expectCode(
      () => MeterSigncrypter.create(world.params, k, policy([0], [[1, 1]])),
      'CRYPTO.POLICY_INVALID',
    );
    expectCode(
      () =>
        MeterSigncrypter.create(world.params, k, policy([0], [[0]]), {
          epoch: { maxReports: 0, maxAgeMs: 0 },
        }),
      'CRYPTO.POLICY_INVALID',
    );
    const other = buildWorld({ meters: 0, receivers: ['cc'] });
    expectCode(
      () =>
        MeterSigncrypter.create(world.params, k, {
          dimensionCount: 1,
          receivers: [{ receiver: other.receivers[0]!.pub, dimensions: [0] }],
        }),
      'CRYPTO.POLICY_INVALID',
    );
    const s = MeterSigncrypter.create(world.params, k, policy([0], [[0]]));
    expectCode(() => s.signcrypt(sampleReading(9), T0), 'CRYPTO.POLICY_INVALID');
    expectCode(() => s.signcrypt([...sampleReading(9), new Uint8Array(256)], T0), 'CRYPTO.LIMIT_EXCEEDED');
    const last = MeterSigncrypter.create(world.params, k, policy([0], [[0]]), {
      nextNonce: (1n << 64n) - 1n,
    });
    last.signcrypt(sampleReading(10), T0);
    expectCode(() => last.signcrypt(sampleReading(10), T0), 'CRYPTO.NONCE_EXHAUSTED');
  });
});

describe('opening many shares at once', () => {
  it('given a mixed batch when opened together should give the same outcomes as opening one by one', () => {
    const meter = world.meters[0]!.key;
    const fresh = MeterSigncrypter.create(world.params, meter, policy([0, 1], [full(10), [4]]));
    const epoch = MeterSigncrypter.create(world.params, meter, policy([0, 1], [full(10), [4]]), {
      epoch: { maxReports: 10, maxAgeMs: 60_000 },
    });
    const good = [
      fresh.signcrypt(sampleReading(10, 1), T0),
      ...[1, 2, 3].map((i) => epoch.signcrypt(sampleReading(10, i), T0 + i)),
    ];
    const notMine = MeterSigncrypter.create(world.params, meter, policy([2], [[0]])).signcrypt(
      sampleReading(10),
      T0,
    );
    const smallOrder = new Uint8Array(96);
    smallOrder[95] = 2; // uncompressed (report version 2): (0, 2), of order 3
    const badD = Report.decode(encodeReport({ ...good[0]!, d: smallOrder }));
    const flipped = Uint8Array.from(good[2]!.shares[0]!.ciphertext);
    flipped[3] = (flipped[3] ?? 0) ^ 1;
    const tampered = Report.decode(
      encodeReport({
        ...good[2]!,
        shares: [{ ...good[2]!.shares[0]!, ciphertext: flipped }, good[2]!.shares[1]!],
      }),
    );
    const batch = [...good, notMine, badD, tampered, good[1]!];

    const together = new ShareDecryptor(world.receivers[0]!.priv).openAll(batch);
    const single = new ShareDecryptor(world.receivers[0]!.priv);
    const oneByOne = batch.map((r) => {
      try {
        return single.open(r).dimensions.length;
      } catch (e) {
        return (e as { code: string }).code;
      }
    });
    expect(together.map((o) => (o.ok ? o.share.dimensions.length : o.error.code))).toEqual(oneByOne);
    expect(oneByOne).toEqual([
      10,
      10,
      10,
      10,
      'CRYPTO.SHARE_NOT_FOUND',
      'CRYPTO.POINT_NOT_IN_SUBGROUP',
      'CRYPTO.CIPHERTEXT_TAMPERED',
      10,
    ]);
  });
});

describe('unsigncryption failures, each with its own typed error', () => {
  const make = (): Report =>
    MeterSigncrypter.create(
      world.params,
      world.meters[1]!.key,
      policy([0, 1, 2], [full(10), [0, 1], [9]]),
    ).signcrypt(sampleReading(10), T0);
  const rebuild = (
    r: Report,
    change: (f: Parameters<typeof encodeReport>[0]) => Parameters<typeof encodeReport>[0],
  ): Report => Report.decode(encodeReport(change({ ...r })));

  it('given a private key that is not the one the share was encrypted to when opening should fail with CRYPTO.WRONG_KEY', () => {
    const report = make();
    const impostor = makeReceiver(world.params, world.receivers[1]!.id); // same ID, another key (a rotated or mixed-up key)
    expectCode(() => new ShareDecryptor(impostor.priv).open(report), 'CRYPTO.WRONG_KEY');
  });

  it('given a flipped ciphertext bit or a changed GCM tag when opening should fail with CRYPTO.CIPHERTEXT_TAMPERED', () => {
    const report = make();
    for (const position of [0, -1]) {
      const tampered = rebuild(report, (f) => {
        const shares = [...f.shares];
        const ct = Uint8Array.from(shares[1]!.ciphertext);
        const at = position < 0 ? ct.length + position : position;
        ct[at] = (ct[at] ?? 0) ^ 0x40;
        shares[1] = { ...shares[1]!, ciphertext: ct };
        return { ...f, shares };
      });
      expectCode(
        () => new ShareDecryptor(world.receivers[1]!.priv).open(tampered),
        'CRYPTO.CIPHERTEXT_TAMPERED',
      );
      expect(new ShareDecryptor(world.receivers[0]!.priv).open(tampered).dimensions).toHaveLength(10);
    }
  });

  it('given two shares exchanged between slots when opening should fail with CRYPTO.SHARE_SWAPPED for both receivers', () => {
    const report = make();
    const swapped = rebuild(report, (f) => ({ ...f, shares: [f.shares[1]!, f.shares[0]!, f.shares[2]!] }));
    for (const r of [0, 1]) {
      const e = new ShareDecryptor(world.receivers[r]!.priv);
      expectCode(() => e.open(swapped), 'CRYPTO.SHARE_SWAPPED');
    }
    expect(new ShareDecryptor(world.receivers[2]!.priv).open(swapped).dimensions.map((d) => d.index)).toEqual(
      [9],
    );
  });

  it("given a share copied over another receiver's share when that receiver opens should fail with CRYPTO.SHARE_SWAPPED", () => {
    const report = make();
    const moved = rebuild(report, (f) => ({ ...f, shares: [f.shares[0]!, f.shares[0]!, f.shares[2]!] }));
    expectCode(() => new ShareDecryptor(world.receivers[1]!.priv).open(moved), 'CRYPTO.SHARE_SWAPPED');
  });

  it('given a changed timestamp, nonce, meter ID or epoch position when opening should fail with CRYPTO.HEADER_CHANGED', () => {
    const report = make();
    const changes = [
      (f: Parameters<typeof encodeReport>[0]) => ({ ...f, timestamp: f.timestamp + 1 }),
      (f: Parameters<typeof encodeReport>[0]) => ({ ...f, nonce: f.nonce + 1n }),
      (f: Parameters<typeof encodeReport>[0]) => ({ ...f, meterId: 'meter-1' }),
      (f: Parameters<typeof encodeReport>[0]) => ({ ...f, epoch: { ...f.epoch, seq: 5 } }),
    ];
    for (const change of changes) {
      expectCode(
        () => new ShareDecryptor(world.receivers[2]!.priv).open(rebuild(report, change)),
        'CRYPTO.HEADER_CHANGED',
      );
    }
  });

  it("given a changed fingerprint of the receiver's key in the header when the right key opens should fail with CRYPTO.HEADER_CHANGED", () => {
    const report = make();
    const changed = rebuild(report, (f) => {
      const receivers = [...f.receivers];
      receivers[0] = { ...receivers[0]!, keyFingerprint: new Uint8Array(8) };
      return { ...f, receivers };
    });
    expectCode(() => new ShareDecryptor(world.receivers[0]!.priv).open(changed), 'CRYPTO.HEADER_CHANGED');
  });

  it('given a replaced D or key check when opening should fail with CRYPTO.SHARE_NOT_KEYED, and an invalid D with its point error', () => {
    const report = make();
    const otherD = make().d;
    expectCode(
      () => new ShareDecryptor(world.receivers[0]!.priv).open(rebuild(report, (f) => ({ ...f, d: otherD }))),
      'CRYPTO.SHARE_NOT_KEYED',
    );
    const kcv = rebuild(report, (f) => {
      const shares = [...f.shares];
      shares[2] = { ...shares[2]!, keyCheck: new Uint8Array(8) };
      return { ...f, shares };
    });
    expectCode(() => new ShareDecryptor(world.receivers[2]!.priv).open(kcv), 'CRYPTO.SHARE_NOT_KEYED');
    // Reports of version 2 carry D uncompressed.
    const identity = new Uint8Array(96);
    identity[0] = 0x40;
    expectCode(
      () =>
        new ShareDecryptor(world.receivers[0]!.priv).open(rebuild(report, (f) => ({ ...f, d: identity }))),
      'CRYPTO.POINT_IS_IDENTITY',
    );
    const smallOrder = new Uint8Array(96);
    smallOrder[95] = 2; // x = 0, y = 2: the point (0, 2) of order 3
    expectCode(
      () =>
        new ShareDecryptor(world.receivers[0]!.priv).open(rebuild(report, (f) => ({ ...f, d: smallOrder }))),
      'CRYPTO.POINT_NOT_IN_SUBGROUP',
    );
  });
});
