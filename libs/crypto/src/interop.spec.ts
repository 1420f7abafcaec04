import {
  BLS_POP_DST,
  BLS_SIGNATURE_DST,
  BlsPublicKey,
  blsAggregateSignatures,
  blsGenerateKey,
  blsProvePossession,
  blsSign,
  blsSigningBytes,
  blsVerify,
} from './bls';
import { toHex } from './bytes';
import { DST_H1, DST_H2, DST_H3, encodeGT, expandMessageXmd, h1, h2, h3, hashToG1, hashToG2 } from './hash';
import { initCrypto, mcl, ready } from './mcl';
import { decodeG2 } from './points';
import { scalarOf, SecretScalar } from './secret';
import { generateKeyPair, publicKeyOf, setupSystem } from './system';
import { askNoble, OracleRequest } from '../test/noble-oracle';

// Cross-checks against an independent implementation (@noble/curves): what "other implementations
// can check our outputs" means in practice. All questions go to one child process.

beforeAll(async () => {
  await initCrypto();
});

describe('interop with @noble/curves', () => {
  it('given the same inputs when hashing, pairing and signing should agree with @noble/curves on every output', () => {
    const { params } = setupSystem();
    const kp = generateKeyPair();
    const id = 'meter-000001';
    const alpha = publicKeyOf(SecretScalar.random());
    const h1Input = Buffer.concat([Buffer.of(id.length), Buffer.from(id), alpha]);
    const h2Input = Buffer.from(Array.from({ length: 333 }, (_, i) => i & 0xff));
    const msg = Buffer.from('CBSG interop');

    // Pairing of two random points, to relate our GT encoding to the tower coefficients.
    const { P1 } = ready();
    const g1 = mcl.mul(P1, scalarOf(SecretScalar.random()));
    const g2 = mcl.mul(decodeG2(params.ypub2, 'Ypub2'), scalarOf(SecretScalar.random()));
    const gt = encodeGT(mcl.pairing(g1, g2));

    // BLS: our signatures for noble to verify, noble's for us to verify.
    const signer = blsGenerateKey();
    const others = [blsGenerateKey(), blsGenerateKey()];
    const domain = { tag: 'CBSG-VOTE-V1', chainId: 'cbsg-interop' };
    const signed = blsSigningBytes(domain, msg);
    const sig = blsSign(signer.secret, domain, msg);
    const pop = blsProvePossession(signer.secret);
    const aggregate = blsAggregateSignatures([signer, ...others].map((k) => blsSign(k.secret, domain, msg)));

    const requests: OracleRequest[] = [
      { op: 'xmd', msg: toHex(h2Input), dst: DST_H2, len: 48 },
      { op: 'hashToFr', msg: toHex(h1Input), dst: DST_H1 },
      { op: 'hashToFr', msg: toHex(h2Input), dst: DST_H2 },
      { op: 'hashToG2', msg: toHex(Buffer.concat([params.ypub1, params.ypub2])), dst: DST_H3 },
      { op: 'hashToG1', msg: toHex(msg), dst: 'CBSG-V1-INTEROP_XMD:SHA-256_SSWU_RO_' },
      { op: 'hashToG2', msg: toHex(msg), dst: 'CBSG-V1-INTEROP_XMD:SHA-256_SSWU_RO_' },
      { op: 'g1Mul', scalar: toHex(kp.secret.exposeBytes()) },
      { op: 'pairing', g1: toHex(g1.serialize()), g2: toHex(g2.serialize()) },
      {
        op: 'blsVerify',
        pk: toHex(signer.publicKey),
        msg: toHex(signed),
        sig: toHex(sig),
        dst: BLS_SIGNATURE_DST,
      },
      {
        op: 'blsVerify',
        pk: toHex(signer.publicKey),
        msg: toHex(signer.publicKey),
        sig: toHex(pop),
        dst: BLS_POP_DST,
      },
      {
        op: 'blsFastAggregateVerify',
        pks: [signer, ...others].map((k) => toHex(k.publicKey)),
        msg: toHex(signed),
        sig: toHex(aggregate),
        dst: BLS_SIGNATURE_DST,
      },
      {
        op: 'blsSign',
        sk: toHex(others[0]?.secret.exposeBytes() ?? new Uint8Array()),
        msg: toHex(signed),
        dst: BLS_SIGNATURE_DST,
      },
    ];
    const [xmd, fr1, fr2, q, hg1, hg2, pk, pairing, v1, v2, v3, nobleSig] = askNoble(requests);

    expect(toHex(expandMessageXmd(h2Input, DST_H2, 48))).toBe(xmd);
    expect(toHex(h1(id, alpha).serialize())).toBe(fr1);
    expect(toHex(h2([h2Input]).serialize())).toBe(fr2);
    expect(toHex(h3(params.ypub1, params.ypub2).serialize())).toBe(q);
    expect(params.q).toEqual(Uint8Array.from(Buffer.from(q as string, 'hex')));
    expect(toHex(hashToG1(msg, 'CBSG-V1-INTEROP_XMD:SHA-256_SSWU_RO_').serialize())).toBe(hg1);
    expect(toHex(hashToG2(msg, 'CBSG-V1-INTEROP_XMD:SHA-256_SSWU_RO_').serialize())).toBe(hg2);
    expect(toHex(kp.publicKey)).toBe(pk);

    // Our GT bytes: the six Fp2 coefficients in tower order, each as (imaginary, real) big-endian.
    const coeffs = pairing as string[];
    const expectedGt = [0, 1, 2, 3, 4, 5].map((k) => `${coeffs[2 * k + 1]}${coeffs[2 * k]}`).join('');
    expect(toHex(gt)).toBe(expectedGt);

    expect([v1, v2, v3]).toEqual([true, true, true]);
    expect(
      blsVerify(
        BlsPublicKey.fromBytes(others[0]?.publicKey ?? new Uint8Array()),
        domain,
        msg,
        Uint8Array.from(Buffer.from(nobleSig as string, 'hex')),
      ),
    ).toBe(true);
  });
});
