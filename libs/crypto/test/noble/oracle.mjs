// Independent reference for the interop tests: @noble/curves (pure JavaScript, RFC 9380 and the IETF
// BLS ciphersuites). Reads a JSON array of requests on stdin, writes a JSON array of answers.
// It runs as a plain Node process because @noble/curves 2 is ESM-only and jest here runs CommonJS.
import { bls12_381, bls12_381_Fr } from '@noble/curves/bls12-381.js';
import { expand_message_xmd, hash_to_field } from '@noble/curves/abstract/hash-to-curve.js';
import { sha256 } from '@noble/hashes/sha2.js';

const hex = (b) => Buffer.from(b).toString('hex');
const bytes = (h) => Uint8Array.from(Buffer.from(h, 'hex'));
const { longSignatures: bls } = bls12_381;
const G1 = bls12_381.G1.Point;
const G2 = bls12_381.G2.Point;

function answer(q) {
  switch (q.op) {
    case 'xmd':
      return hex(expand_message_xmd(bytes(q.msg), q.dst, q.len, sha256));
    case 'hashToFr': {
      const [[u]] = hash_to_field(bytes(q.msg), 1, {
        DST: q.dst,
        p: bls12_381_Fr.ORDER,
        m: 1,
        k: 128,
        expand: 'xmd',
        hash: sha256,
      });
      return u.toString(16).padStart(64, '0');
    }
    case 'hashToG1':
      return hex(bls12_381.G1.hashToCurve(bytes(q.msg), { DST: q.dst }).toBytes());
    case 'hashToG2':
      return hex(bls12_381.G2.hashToCurve(bytes(q.msg), { DST: q.dst }).toBytes());
    case 'g1Mul':
      return hex(G1.BASE.multiply(BigInt('0x' + q.scalar)).toBytes());
    case 'g2Mul':
      return hex(G2.BASE.multiply(BigInt('0x' + q.scalar)).toBytes());
    case 'pairing': {
      const f = bls12_381.pairing(G1.fromBytes(bytes(q.g1)), G2.fromBytes(bytes(q.g2)));
      const out = [];
      for (const a of ['c0', 'c1'])
        for (const b of ['c0', 'c1', 'c2'])
          for (const c of ['c0', 'c1']) out.push(f[a][b][c].toString(16).padStart(96, '0'));
      return out;
    }
    case 'blsSign':
      return hex(bls.sign(bls.hash(bytes(q.msg), q.dst), bytes(q.sk)).toBytes());
    case 'blsVerify':
      return bls.verify(bytes(q.sig), bls.hash(bytes(q.msg), q.dst), bytes(q.pk));
    case 'blsFastAggregateVerify':
      return bls.verify(
        bytes(q.sig),
        bls.hash(bytes(q.msg), q.dst),
        bls.aggregatePublicKeys(q.pks.map(bytes)),
      );
    case 'blsAggregate':
      return hex(bls.aggregateSignatures(q.sigs.map(bytes)).toBytes());
    default:
      throw new Error(`unknown op ${q.op}`);
  }
}

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (c) => (input += c));
process.stdin.on('end', () => {
  process.stdout.write(JSON.stringify(JSON.parse(input).map(answer)));
});
