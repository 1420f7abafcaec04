// Attacks built from public values only, for tests that show the node refuses them. Deep imports of
// @app/crypto internals are allowed here (tests), never in product code.
import {
  type MeterPrivateKey,
  type RegisteredMeter,
  Report,
  SecretScalar,
  type SystemParams,
} from '@app/crypto';

import { h2 } from '../../libs/crypto/src/hash';
import { mulP1, mulQ } from '../../libs/crypto/src/fixed-base';
import { meterSecrets, registeredMeterPoints } from '../../libs/crypto/src/keys';
import { mcl, ready } from '../../libs/crypto/src/mcl';
import { encodeReportG1, encodeReportG2 } from '../../libs/crypto/src/points';
import { encodeReport, reportInternals, withSignature } from '../../libs/crypto/src/report';
import { scalarOf } from '../../libs/crypto/src/secret';
import { signingInput } from '../../libs/crypto/src/signature';
import { systemPoints } from '../../libs/crypto/src/system';

/**
 * The paper's forgery (DESIGN.md section 2, fix 1): take a real report of the victim, move it to a new
 * timestamp and nonce (which the forger cannot sign), pick t, and set W = t*P1 - beta*Y_S - A and
 * T = t*Q with the paper's beta, which does not cover W. Under the paper's scheme this verifies; the
 * fixed scheme hashes W into beta, so it must not.
 */
export function paperForgery(
  params: SystemParams,
  victim: RegisteredMeter,
  original: Report,
  shift: { timestamp: number; nonce: bigint },
): Report {
  const { P1 } = ready();
  const { q } = systemPoints(params);
  const m = registeredMeterPoints(victim);
  const body = Report.decode(
    encodeReport({ ...original, timestamp: shift.timestamp, nonce: shift.nonce, epoch: original.epoch }),
  );
  const { bodyEnd } = reportInternals(body);
  const unfixedBeta = h2([
    body.bytes.subarray(0, bodyEnd),
    victim.publicKey,
    victim.alpha,
    params.ypub1,
    params.ypub2,
  ]);
  const t = scalarOf(SecretScalar.random());
  const w = mcl.sub(mcl.sub(mcl.mul(P1, t), mcl.mul(m.y, unfixedBeta)), m.a);
  return withSignature(body, encodeReportG1(w, body.version), encodeReportG2(mcl.mul(q, t), body.version));
}

/**
 * A compromised meter (its firmware corrupts what it sends to one receiver): the report's share for
 * `receiverId` has a flipped ciphertext byte, and the meter signs the result with its real key. The
 * signature holds, so the report goes on the chain; only that receiver finds its share tampered.
 */
export function corruptShareAndSign(
  params: SystemParams,
  key: MeterPrivateKey,
  report: Report,
  receiverId: string,
): Report {
  const index = report.receivers.findIndex((r) => r.id === receiverId);
  if (index < 0) {
    throw new Error(`the report has no share for ${receiverId}`);
  }
  const shares = report.shares.map((share, j) => {
    if (j !== index) {
      return share;
    }
    const ciphertext = Uint8Array.from(share.ciphertext);
    ciphertext[0]! ^= 0x01;
    return { ...share, ciphertext };
  });
  const unsigned = Report.decode(encodeReport({ ...report, shares }));
  const { bodyEnd } = reportInternals(unsigned);
  const w = scalarOf(SecretScalar.random());
  const wPoint = encodeReportG1(mulP1(w), unsigned.version);
  const prefix = Buffer.concat([unsigned.bytes.subarray(0, bodyEnd), wPoint]);
  const beta = h2(signingInput(prefix, key, params));
  const secrets = meterSecrets(key);
  const s = mcl.add(mcl.add(mcl.mul(beta, secrets.x), secrets.h), w);
  return withSignature(unsigned, wPoint, encodeReportG2(mulQ(params, s), unsigned.version));
}
