import { initCrypto, mcl, ready } from './mcl';
import { h2 } from './hash';
import { registeredMeterPoints } from './keys';
import { decodeReportG1, decodeReportG2, encodeReportG1, encodeReportG2 } from './points';
import { encodeReport, Report, reportInternals, withSignature } from './report';
import { scalarOf, SecretScalar } from './secret';
import {
  METER_MISMATCH,
  SIGNATURE_INVALID,
  signaturePoints,
  verifyReport,
  verifyReportBatch,
} from './signature';
import { MeterSigncrypter } from './signcrypt';
import { systemPoints } from './system';
import { buildWorld, sampleReading, World } from '../test/world';
import vectors from '../test/vectors/points-invalid.json';
import uncompressedVectors from '../test/vectors/points-invalid-uncompressed.json';

let world: World;

beforeAll(async () => {
  await initCrypto();
  world = buildWorld({ meters: 4, receivers: ['cc', 'grid-operator'] });
});

function signer(meter: number, epochReports = 1): MeterSigncrypter {
  const m = world.meters[meter];
  if (m === undefined) {
    throw new Error('no such meter');
  }
  return MeterSigncrypter.create(
    world.params,
    m.key,
    {
      dimensionCount: 3,
      receivers: [
        { receiver: world.receivers[0]!.pub, dimensions: [0, 1, 2] },
        { receiver: world.receivers[1]!.pub, dimensions: [1] },
      ],
    },
    { epoch: { maxReports: epochReports, maxAgeMs: 3_600_000 } },
  );
}

const T0 = 1_795_000_000_000;

/** The same report with one header field changed (and everything else, including the signature, kept). */
function withHeader(r: Report, change: Partial<{ timestamp: number; nonce: bigint; seq: number }>): Report {
  return Report.decode(
    encodeReport({
      ...r,
      timestamp: change.timestamp ?? r.timestamp,
      nonce: change.nonce ?? r.nonce,
      epoch: { startedAt: r.epoch.startedAt, seq: change.seq ?? r.epoch.seq },
    }),
  );
}

/** The paper's equation (2): plain sums, no weights. Deliberately unfixed; used to show the tests have teeth. */
function paperAggregateCheck(items: readonly { report: Report; meter: number }[]): boolean {
  const { P1 } = ready();
  const { q } = systemPoints(world.params);
  let sumT = new mcl.G2();
  let rhs = new mcl.G1();
  for (const { report, meter } of items) {
    const reg = world.meters[meter]!.registered;
    const { w, t } = signaturePoints(report);
    const m = registeredMeterPoints(reg);
    const { bodyEnd } = reportInternals(report);
    const beta = h2([
      report.bytes.subarray(0, bodyEnd + report.w.length),
      reg.publicKey,
      reg.alpha,
      world.params.ypub1,
      world.params.ypub2,
    ]);
    sumT = mcl.add(sumT, t);
    rhs = mcl.add(rhs, mcl.add(mcl.add(mcl.mul(m.y, beta), m.a), w));
  }
  return mcl.pairing(P1, sumT).isEqual(mcl.pairing(rhs, q));
}

describe('certificateless signature of a report', () => {
  it('given random keys when several meters sign should satisfy property 2 (the aggregate equation) and the weighted batch check', () => {
    const items = [0, 1, 2, 3].map((meter) => ({
      report: signer(meter).signcrypt(sampleReading(3, meter), T0 + meter),
      meter,
    }));
    for (const { report, meter } of items) {
      expect(verifyReport(world.params, report, world.meters[meter]!.registered)).toEqual({ valid: true });
    }
    expect(paperAggregateCheck(items)).toBe(true);
    const batch = verifyReportBatch(
      world.params,
      items.map(({ report, meter }) => ({ report, meter: world.meters[meter]!.registered })),
    );
    expect(batch).toMatchObject({ allValid: true, invalid: [] });
  });

  it('given the paper forgery (W chosen after beta) when verified should be rejected, while a verifier with the unfixed beta accepts it', () => {
    const { P1 } = ready();
    const { q, qLines } = systemPoints(world.params);
    const victim = world.meters[0]!.registered;
    const m = registeredMeterPoints(victim);
    // Any report body will do; the forger knows only public values. Here: a real report of the
    // victim, replayed with a new timestamp, which the forger cannot sign.
    const original = signer(0).signcrypt(sampleReading(3, 9), T0);
    const body = withHeader(original, { timestamp: T0 + 86_400_000, nonce: original.nonce + 1000n });
    const { bodyEnd } = reportInternals(body);
    // The unfixed beta of the paper: W is not hashed.
    const unfixedBeta = h2([
      body.bytes.subarray(0, bodyEnd),
      victim.publicKey,
      victim.alpha,
      world.params.ypub1,
      world.params.ypub2,
    ]);
    const t = scalarOf(SecretScalar.random());
    // W = t*P1 - beta*Y_S - A, T = t*Q
    const w = mcl.sub(mcl.sub(mcl.mul(P1, t), mcl.mul(m.y, unfixedBeta)), m.a);
    const forged = withSignature(
      body,
      encodeReportG1(w, body.version),
      encodeReportG2(mcl.mul(q, t), body.version),
    );

    const unfixedAccepts = mcl
      .finalExp(
        mcl.precomputedMillerLoop2mixed(
          P1,
          decodeReportG2(forged.t, 'T'),
          mcl.neg(mcl.add(mcl.add(mcl.mul(m.y, unfixedBeta), m.a), decodeReportG1(forged.w, 'W'))),
          qLines,
        ),
      )
      .isOne();
    expect(unfixedAccepts).toBe(true);
    expect(verifyReport(world.params, forged, victim)).toMatchObject({
      valid: false,
      code: SIGNATURE_INVALID,
    });
    expect(verifyReportBatch(world.params, [{ report: forged, meter: victim }]).invalid).toEqual([0]);
  });

  it('given a value shifted between two signatures when batch-verified should name both, although the plain sum of the paper still holds', () => {
    const reports = [0, 1, 2, 3].map((meter) => signer(meter).signcrypt(sampleReading(3, meter), T0 + meter));
    const { q } = systemPoints(world.params);
    const e = mcl.mul(q, scalarOf(SecretScalar.random()));
    const t1 = mcl.add(decodeReportG2(reports[1]!.t, 'T'), e);
    const t2 = mcl.sub(decodeReportG2(reports[2]!.t, 'T'), e);
    const shifted = [...reports];
    shifted[1] = withSignature(reports[1]!, reports[1]!.w, encodeReportG2(t1, reports[1]!.version));
    shifted[2] = withSignature(reports[2]!, reports[2]!.w, encodeReportG2(t2, reports[2]!.version));

    expect(paperAggregateCheck(shifted.map((report, meter) => ({ report, meter })))).toBe(true);
    for (const i of [1, 2]) {
      expect(verifyReport(world.params, shifted[i]!, world.meters[i]!.registered).valid).toBe(false);
    }
    const batch = verifyReportBatch(
      world.params,
      shifted.map((report, meter) => ({ report, meter: world.meters[meter]!.registered })),
    );
    expect(batch.invalid).toEqual([1, 2]);
    expect(batch.verdicts.map((v) => v.valid)).toEqual([true, false, false, true]);
  });

  it('given 1,000 reports with 3 bad ones when batch-verified should bisect to exactly those 3', () => {
    const signers = [0, 1, 2, 3].map((m) => signer(m, 1000));
    const reading = sampleReading(3);
    const items = Array.from({ length: 1000 }, (_, i) => ({
      report: (signers[i % 4] as MeterSigncrypter).signcrypt(reading, T0 + i),
      meter: world.meters[i % 4]!.registered,
    }));
    const bad = [17, 503, 998];
    const { q } = systemPoints(world.params);
    const r0 = items[17]!.report;
    items[17] = {
      ...items[17]!,
      report: withSignature(r0, r0.w, encodeReportG2(mcl.add(decodeReportG2(r0.t, 'T'), q), r0.version)),
    };
    const r1 = items[503]!.report;
    items[503] = { ...items[503]!, report: withSignature(r1, items[504]!.report.w, r1.t) };
    const r2 = items[998]!.report;
    items[998] = { ...items[998]!, report: withHeader(r2, { timestamp: r2.timestamp + 1 }) };

    const batch = verifyReportBatch(world.params, items);
    expect(batch.invalid).toEqual(bad);
    expect(batch.allValid).toBe(false);
  });

  it('given a changed timestamp, nonce or epoch position when verified should fail: the replay fields are under the signature', () => {
    const report = signer(0).signcrypt(sampleReading(3), T0);
    const meter = world.meters[0]!.registered;
    expect(verifyReport(world.params, report, meter).valid).toBe(true);
    for (const changed of [
      withHeader(report, { timestamp: report.timestamp + 1 }),
      withHeader(report, { nonce: report.nonce + 1n }),
      withHeader(report, { seq: 1 }),
    ]) {
      expect(verifyReport(world.params, changed, meter)).toMatchObject({
        valid: false,
        code: SIGNATURE_INVALID,
      });
    }
  });

  it('given a changed share, receiver fingerprint or D when verified should fail', () => {
    const report = signer(0).signcrypt(sampleReading(3), T0);
    const meter = world.meters[0]!.registered;
    const share = report.shares[1]!;
    const flipped = Uint8Array.from(share.ciphertext);
    flipped[0] = (flipped[0] ?? 0) ^ 1;
    const otherD = signer(0).signcrypt(sampleReading(3), T0).d;
    const fingerprint = Uint8Array.from(report.receivers[0]!.keyFingerprint);
    fingerprint[0] = (fingerprint[0] ?? 0) ^ 1;
    const variants = [
      { ...report, shares: [report.shares[0]!, { ...share, ciphertext: flipped }] },
      { ...report, d: otherD },
      {
        ...report,
        receivers: [{ ...report.receivers[0]!, keyFingerprint: fingerprint }, report.receivers[1]!],
      },
    ];
    for (const v of variants) {
      expect(verifyReport(world.params, Report.decode(encodeReport(v)), meter)).toMatchObject({
        valid: false,
        code: SIGNATURE_INVALID,
      });
    }
  });

  it('given invalid W or T points when verified should report the decoding error, and a batch should keep the good reports', () => {
    const good = signer(1).signcrypt(sampleReading(3), T0);
    const report = signer(0).signcrypt(sampleReading(3), T0);
    const meter = world.meters[0]!.registered;
    // Bad points in the encoding of the report's version.
    const bad = report.version >= 2 ? uncompressedVectors : vectors;
    const g1Bad = bad.find((v) => v.group === 'G1' && v.code === 'CRYPTO.POINT_NOT_IN_SUBGROUP')!;
    const g2Bad = bad.find((v) => v.group === 'G2' && v.code === 'CRYPTO.POINT_NOT_ON_CURVE')!;
    const badW = withSignature(report, Buffer.from(g1Bad.hex, 'hex'), report.t);
    const badT = withSignature(report, report.w, Buffer.from(g2Bad.hex, 'hex'));
    expect(verifyReport(world.params, badW, meter)).toMatchObject({
      valid: false,
      code: 'CRYPTO.POINT_NOT_IN_SUBGROUP',
    });
    expect(verifyReport(world.params, badT, meter)).toMatchObject({
      valid: false,
      code: 'CRYPTO.POINT_NOT_ON_CURVE',
    });
    const batch = verifyReportBatch(world.params, [
      { report: badW, meter },
      { report: good, meter: world.meters[1]!.registered },
      { report: badT, meter },
      { report: good, meter },
    ]);
    expect(batch.invalid).toEqual([0, 2, 3]);
    expect(batch.verdicts[3]).toMatchObject({ code: METER_MISMATCH });
  });

  it('given a report verified once when verified again should reuse the decoded W and T', () => {
    const report = signer(0).signcrypt(sampleReading(3), T0);
    verifyReportBatch(world.params, [{ report, meter: world.meters[0]!.registered }]);
    const first = reportInternals(report).cache;
    const t = first.t;
    expect(t).toBeDefined();
    expect(verifyReport(world.params, report, world.meters[0]!.registered).valid).toBe(true);
    expect(reportInternals(report).cache.t).toBe(t);
    expect(reportInternals(report).cache.dCurve).toBeDefined();
  });
});
