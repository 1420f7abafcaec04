import { BlsPublicKey, blsProvePossession, blsSign, blsVerify, nodeLinkKey } from './bls';
import { toHex, utf8 } from './bytes';
import { fIndex, h1, h2, h3, h4, keyFingerprint } from './hash';
import { MeterPrivateKey, ReceiverPrivateKey, ReceiverPublicKey, RegisteredMeter } from './keys';
import { initCrypto } from './mcl';
import { Report } from './report';
import { SecretScalar } from './secret';
import { verifyReport } from './signature';
import { createMeterSigncrypterWithRandom } from './signcrypt';
import { SystemParams } from './system';
import { ShareDecryptor } from './unsigncrypt';
import { seededRandom } from '../test/seeded-random';
import hashes from '../test/vectors/hashes.json';
import reportVector from '../test/vectors/report.json';
import reportV2Vector from '../test/vectors/report-v2.json';
import blsVector from '../test/vectors/bls.json';
import nodeLinkVector from '../test/vectors/node-link.json';

// Known answers: a change to any encoding, tag or hash shows up here. The files are written by
// libs/crypto/test/generate-vectors.ts; regenerate them only for an intended change.

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));

beforeAll(async () => {
  await initCrypto();
});

describe('known-answer vectors: hashes', () => {
  it('given the H1 vectors when hashed should give the recorded eta', () => {
    for (const v of hashes.h1) {
      expect(toHex(h1(v.id, hex(v.alpha)).serialize())).toBe(v.eta);
    }
  });

  it('given the H2 vectors when hashed should give the recorded beta', () => {
    for (const v of hashes.h2) {
      expect(toHex(h2([hex(v.input)]).serialize())).toBe(v.beta);
    }
  });

  it('given the H3 vectors when hashed to G2 should give the recorded Q', () => {
    for (const v of hashes.h3) {
      expect(toHex(h3(hex(v.ypub1), hex(v.ypub2)).serialize())).toBe(v.q);
    }
  });

  it('given the H4 vectors when derived should give the recorded keys', () => {
    for (const v of hashes.h4) {
      const k = h4(hex(v.u), hex(v.d));
      expect([toHex(k.enc), toHex(k.mac)]).toEqual([v.enc, v.mac]);
    }
  });

  it('given the f_Index and fingerprint vectors when computed should match', () => {
    for (const v of hashes.fIndex) {
      expect(fIndex(v.id).toString(16).padStart(16, '0')).toBe(v.index);
    }
    for (const v of hashes.keyFingerprint) {
      expect(toHex(keyFingerprint(hex(v.publicKey)))).toBe(v.fingerprint);
    }
  });
});

describe.each([reportVector, reportV2Vector])('known-answer vectors: one full report', (v) => {
  it('given the recorded keys and randomness when signcrypting should reproduce the recorded reports byte for byte', () => {
    const params = SystemParams.fromJSON(v.params);
    const meter = MeterPrivateKey.assemble(params, SecretScalar.fromBytes(hex(v.meter.secret)), {
      id: v.meter.id,
      alpha: hex(v.meter.alpha),
      h: SecretScalar.fromBytes(hex(v.meter.h)),
    });
    const policy = {
      dimensionCount: v.reading.length,
      receivers: v.receivers.map((r) => ({
        receiver: ReceiverPublicKey.register(params, { id: r.id, publicKey: hex(r.publicKey) }),
        dimensions: r.dimensions,
      })),
    };
    const signer = createMeterSigncrypterWithRandom(seededRandom('report-signcrypt'), params, meter, policy, {
      epoch: v.epoch,
      nextNonce: BigInt(v.firstNonce),
      reportVersion: v.reportVersion,
    });
    const reading = v.reading.map(hex);
    v.timestamps.forEach((t, i) => {
      const report = signer.signcrypt(reading, t);
      const expected = v.reports[i];
      expect(toHex(report.bytes)).toBe(expected?.bytes);
      expect(report.idHex).toBe(expected?.id);
      expect(report.toJSON()).toEqual(expected?.json);
    });
  });

  it('given the recorded reports when verified and opened by each receiver should give the recorded dimensions', () => {
    const params = SystemParams.fromJSON(v.params);
    const meter = RegisteredMeter.register(params, {
      id: v.meter.id,
      publicKey: hex(v.meter.publicKey),
      alpha: hex(v.meter.alpha),
    });
    for (const r of v.reports) {
      const report = Report.decode(hex(r.bytes));
      expect(Report.fromJSON(r.json).bytes).toEqual(report.bytes);
      expect(verifyReport(params, report, meter)).toEqual({ valid: true });
      v.receivers.forEach((rc, j) => {
        const key = ReceiverPrivateKey.create(
          params,
          rc.id,
          SecretScalar.fromBytes(hex(rc.secret)),
          hex(rc.publicKey),
        );
        const dims = new ShareDecryptor(key)
          .open(report)
          .dimensions.map((d) => ({ index: d.index, value: toHex(d.value) }));
        expect(dims).toEqual(r.decrypted[j]);
        expect(dims.map((d) => d.index)).toEqual(rc.dimensions);
      });
    }
    // Same key epoch: one D for both reports.
    expect(v.reports[0]?.json.D).toBe(v.reports[1]?.json.D);
    expect(v.reports.map((r) => r.json.version)).toEqual([v.reportVersion, v.reportVersion]);
  });
});

describe('known-answer vectors: BLS', () => {
  it('given the recorded keys when signing should reproduce the signatures and proofs, which verify', () => {
    const message = hex(blsVector.message);
    for (const s of blsVector.signers) {
      const secret = SecretScalar.fromBytes(hex(s.secret));
      expect(toHex(blsSign(secret, blsVector.domain, message))).toBe(s.signature);
      expect(toHex(blsProvePossession(secret))).toBe(s.proofOfPossession);
      expect(
        blsVerify(BlsPublicKey.fromBytes(hex(s.publicKey)), blsVector.domain, message, hex(s.signature)),
      ).toBe(true);
    }
    expect(
      blsVerify(
        BlsPublicKey.fromBytes(hex(blsVector.signers[0]?.publicKey ?? '')),
        blsVector.domain,
        utf8('other'),
        hex(blsVector.signers[0]?.signature ?? ''),
      ),
    ).toBe(false);
  });
});

describe('known-answer vectors: node-link keys', () => {
  it('given the recorded node keys when each derives the key of their link should both reproduce it', () => {
    const [a, b] = nodeLinkVector.nodes.map((n) => ({
      secret: SecretScalar.fromBytes(hex(n.secret)),
      publicKey: BlsPublicKey.fromBytes(hex(n.publicKey)),
    })) as [
      { secret: SecretScalar; publicKey: BlsPublicKey },
      { secret: SecretScalar; publicKey: BlsPublicKey },
    ];
    const ids = nodeLinkVector.nodeIds as [string, string];
    expect(toHex(nodeLinkKey(a.secret, b.publicKey, nodeLinkVector.chainId, ids))).toBe(
      nodeLinkVector.linkKey,
    );
    expect(toHex(nodeLinkKey(b.secret, a.publicKey, nodeLinkVector.chainId, [ids[1], ids[0]]))).toBe(
      nodeLinkVector.linkKey,
    );
  });
});
