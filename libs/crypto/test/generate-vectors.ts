/*
 * Writes the known-answer vectors in libs/crypto/test/vectors/*.json. Run it only when an encoding
 * changes on purpose (and say so in the commit):
 *
 *   node -r @swc-node/register libs/crypto/test/generate-vectors.ts
 *
 * Everything is derived from fixed seeds through the test-only seeded source, so running it twice
 * gives the same files. vectors.spec.ts checks the library against the files.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import * as prettier from 'prettier';

import {
  blsGenerateKeyWithRandom,
  blsProvePossession,
  blsSign,
  BLS_TAGS,
  BlsPublicKey,
  nodeLinkKey,
} from '../src/bls';
import { toHex, utf8 } from '../src/bytes';
import { CryptoError } from '../src/errors';
import { encodeGT, fIndex, h1, h2, h3, h4, keyFingerprint } from '../src/hash';
import { MeterPrivateKey, ReceiverPrivateKey, ReceiverPublicKey } from '../src/keys';
import { initCrypto, mcl } from '../src/mcl';
import {
  decodeG1,
  decodeG1Uncompressed,
  decodeG2,
  decodeG2Uncompressed,
  encodeG1Uncompressed,
  encodeG2Uncompressed,
} from '../src/points';
import { createMeterSigncrypterWithRandom } from '../src/signcrypt';
import { extractPartialKeyWithRandom, generateKeyPairWithRandom, setupSystemWithRandom } from '../src/system';
import { ShareDecryptor } from '../src/unsigncrypt';
import { seededRandom } from './seeded-random';

const OUT = join(__dirname, 'vectors');
const P1_HEX =
  '97f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb';
const P2_HEX =
  '93e02b6052719f607dacd3a088274f65596bd0d09920b61ab5da61bbdc7f5049334cf11213945d57e5ac7d055d042b7e' +
  '024aa2b2f08f0a91260805272dc51051c6e47ad4fa403b02b4510b647ae3d1770bac0326a805bbefd48056c8c121bdb8';
const P_HEX =
  '1a0111ea397fe69a4b1ba7b6434bacd764774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaab';

/** Written as Prettier would format it, so that regenerating unchanged vectors changes no byte. */
async function write(name: string, value: unknown): Promise<void> {
  const path = join(OUT, name);
  const options = (await prettier.resolveConfig(path)) ?? {};
  writeFileSync(path, await prettier.format(JSON.stringify(value, null, 2), { ...options, parser: 'json' }));
  process.stdout.write(`wrote ${name}\n`);
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return 'OK';
  } catch (e) {
    if (e instanceof CryptoError) {
      return e.code;
    }
    throw e;
  }
}

/** First compressed x (with the given flags) that does / does not decompress to a curve point. */
function findX(size: 48 | 96, wantOnCurve: boolean): string {
  for (let v = 0; v < 1000; v++) {
    const b = new Uint8Array(size);
    b[0] = 0x80;
    b[size - 1] = v;
    const decode =
      size === 48
        ? (x: Uint8Array) => decodeG1(x, 'probe', 'curve')
        : (x: Uint8Array) => decodeG2(x, 'probe', 'curve');
    const ok = codeOf(() => decode(b)) === 'OK';
    if (ok === wantOnCurve) {
      return toHex(b);
    }
  }
  throw new Error('no candidate found');
}

function pointVectors(): unknown {
  const cases: { group: 'G1' | 'G2'; name: string; hex: string }[] = [];
  for (const [group, gen, size] of [
    ['G1', P1_HEX, 48],
    ['G2', P2_HEX, 96],
  ] as const) {
    const genBytes = Buffer.from(gen, 'hex');
    const identity = Buffer.alloc(size);
    identity[0] = 0xc0;
    const infinityGarbage = Buffer.from(identity);
    infinityGarbage[size - 1] = 1;
    const uncompressedFlag = Buffer.from(genBytes);
    uncompressedFlag[0] = (uncompressedFlag[0] ?? 0) & 0x7f;
    const xTooBig = Buffer.alloc(size);
    Buffer.from(P_HEX, 'hex').copy(xTooBig, 0);
    xTooBig[0] = (xTooBig[0] ?? 0) | 0x80;
    cases.push(
      { group, name: 'generator (valid)', hex: gen },
      { group, name: 'identity', hex: identity.toString('hex') },
      { group, name: 'infinity flag with non-zero bits', hex: infinityGarbage.toString('hex') },
      { group, name: 'compression flag missing', hex: uncompressedFlag.toString('hex') },
      { group, name: 'x not below p', hex: xTooBig.toString('hex') },
      { group, name: 'x with no point on the curve', hex: findX(size, false) },
      { group, name: 'curve point outside the prime-order subgroup', hex: findX(size, true) },
      { group, name: 'truncated', hex: genBytes.subarray(0, size - 1).toString('hex') },
      { group, name: 'oversized', hex: Buffer.concat([genBytes, Buffer.of(0)]).toString('hex') },
    );
  }
  return cases.map((c) => ({
    ...c,
    code: codeOf(() =>
      c.group === 'G1'
        ? decodeG1(Buffer.from(c.hex, 'hex'), 'vector')
        : decodeG2(Buffer.from(c.hex, 'hex'), 'vector'),
    ),
  }));
}

/** The uncompressed encoding (report version 2): the same kinds of bad input, and its own flags. */
function uncompressedPointVectors(): unknown {
  const cases: { group: 'G1' | 'G2'; name: string; hex: string }[] = [];
  for (const [group, gen, size] of [
    ['G1', P1_HEX, 48],
    ['G2', P2_HEX, 96],
  ] as const) {
    const generator =
      group === 'G1'
        ? encodeG1Uncompressed(decodeG1(Buffer.from(gen, 'hex'), 'P1'))
        : encodeG2Uncompressed(decodeG2(Buffer.from(gen, 'hex'), 'P2'));
    const withByte = (offset: number, change: (b: number) => number): string => {
      const b = Buffer.from(generator);
      b[offset] = change(b[offset] ?? 0);
      return b.toString('hex');
    };
    const identity = Buffer.alloc(2 * size);
    identity[0] = 0x40;
    const coordinateP = (offset: number): string => {
      const b = Buffer.from(generator);
      Buffer.from(P_HEX, 'hex').copy(b, offset);
      return b.toString('hex');
    };
    const outside = Buffer.from(findX(size, true), 'hex');
    const outsidePoint =
      group === 'G1'
        ? encodeG1Uncompressed(decodeG1(outside, 'probe', 'curve'))
        : encodeG2Uncompressed(decodeG2(outside, 'probe', 'curve'));
    cases.push(
      { group, name: 'generator (valid)', hex: toHex(generator) },
      { group, name: 'identity', hex: identity.toString('hex') },
      { group, name: 'infinity flag with non-zero bits', hex: withByte(0, (b) => b | 0x40) },
      { group, name: 'compression flag set', hex: withByte(0, (b) => b | 0x80) },
      { group, name: 'sign flag set', hex: withByte(0, (b) => b | 0x20) },
      { group, name: 'x not below p', hex: coordinateP(0) },
      { group, name: 'y not below p', hex: coordinateP(size) },
      { group, name: 'y changed: not on the curve', hex: withByte(2 * size - 1, (b) => b ^ 1) },
      { group, name: 'curve point outside the prime-order subgroup', hex: toHex(outsidePoint) },
      { group, name: 'truncated', hex: toHex(generator.subarray(0, 2 * size - 1)) },
      { group, name: 'oversized', hex: toHex(Uint8Array.from([...generator, 0])) },
    );
  }
  return cases.map((c) => ({
    ...c,
    code: codeOf(() =>
      c.group === 'G1'
        ? decodeG1Uncompressed(Buffer.from(c.hex, 'hex'), 'vector')
        : decodeG2Uncompressed(Buffer.from(c.hex, 'hex'), 'vector'),
    ),
  }));
}

function hashVectors(): unknown {
  const rng = seededRandom('hash-vectors');
  const { P1, P2 } = {
    P1: decodeG1(Buffer.from(P1_HEX, 'hex'), 'P1'),
    P2: decodeG2(Buffer.from(P2_HEX, 'hex'), 'P2'),
  };
  const scalar = (): mcl.Fr => {
    const s = new mcl.Fr();
    s.setBigEndianMod(rng.bytes(48));
    return s;
  };
  const h1s = ['meter-000001', 'grid-operator', 'a'].map((id) => {
    const alpha = mcl.mul(P1, scalar()).serialize();
    return { id, alpha: toHex(alpha), eta: toHex(h1(id, alpha).serialize()) };
  });
  const h2s = [new Uint8Array(0), utf8('abc'), rng.bytes(700)].map((input) => ({
    input: toHex(input),
    beta: toHex(h2([input]).serialize()),
  }));
  const h3s = [0, 1].map(() => {
    const x = scalar();
    const ypub1 = mcl.mul(P1, x).serialize();
    const ypub2 = mcl.mul(P2, x).serialize();
    return { ypub1: toHex(ypub1), ypub2: toHex(ypub2), q: toHex(h3(ypub1, ypub2).serialize()) };
  });
  // D enters H4 as the report encodes it: compressed (48 bytes) in version 1, uncompressed (96) from
  // version 2 on. Each (U, D) pair gives one vector of each form.
  const h4s = [0, 1].flatMap(() => {
    const d = mcl.mul(P1, scalar());
    const u = mcl.pairing(d, mcl.mul(P2, scalar()));
    const uBytes = encodeGT(u);
    return [d.serialize(), encodeG1Uncompressed(d)].map((dBytes) => {
      const keys = h4(uBytes, dBytes);
      return { u: toHex(uBytes), d: toHex(dBytes), enc: toHex(keys.enc), mac: toHex(keys.mac) };
    });
  });
  const fIndexes = ['cc', 'grid-operator', 'equipment-supplier', 'meter-000001', 'x'].map((id) => ({
    id,
    index: fIndex(id).toString(16).padStart(16, '0'),
  }));
  const fingerprints = [0, 1].map(() => {
    const y = mcl.mul(P1, scalar()).serialize();
    return { publicKey: toHex(y), fingerprint: toHex(keyFingerprint(y)) };
  });
  return { h1: h1s, h2: h2s, h3: h3s, h4: h4s, fIndex: fIndexes, keyFingerprint: fingerprints };
}

/**
 * One full report. Keys come from seed "report-keys"; d and w from seed "report-signcrypt", which
 * the test reuses with the stored keys, so the test depends on the encodings and hashes, not on how
 * the keys were drawn.
 */
function reportVector(reportVersion: number): unknown {
  const rng = seededRandom('report-keys');
  const { masterKey, params } = setupSystemWithRandom(rng);
  const own = generateKeyPairWithRandom(rng);
  const partial = extractPartialKeyWithRandom(masterKey, params, 'meter-000042', rng);
  const meter = MeterPrivateKey.assemble(params, own.secret, partial);
  const receivers = ['cc', 'grid-operator', 'equipment-supplier'].map((id) => {
    const kp = generateKeyPairWithRandom(rng);
    return { id, kp, pub: ReceiverPublicKey.register(params, { id, publicKey: kp.publicKey }) };
  });
  const dims = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [0, 1, 2, 7],
    [8, 9],
  ];
  const reading = Array.from({ length: 10 }, (_, i) => utf8(`M${i + 1}=${(i * 1.5).toFixed(1)}`));
  const policy = {
    dimensionCount: 10,
    receivers: receivers.map((r, j) => ({ receiver: r.pub, dimensions: dims[j] as number[] })),
  };
  const signer = createMeterSigncrypterWithRandom(seededRandom('report-signcrypt'), params, meter, policy, {
    epoch: { maxReports: 2, maxAgeMs: 60_000 },
    nextNonce: 7n,
    reportVersion,
  });
  const timestamps = [1_795_000_000_000, 1_795_000_015_000];
  const reports = timestamps.map((t) => signer.signcrypt(reading, t));
  return {
    description: `Two reports of wire version ${reportVersion} in one key epoch (maxReports 2): keys from seed "report-keys", then d and w drawn in order from seed "report-signcrypt".`,
    reportVersion,
    params: params.toJSON(),
    masterKey: toHex(masterKey.exposeBytes()),
    meter: {
      id: meter.id,
      secret: toHex(own.secret.exposeBytes()),
      publicKey: toHex(meter.publicKey),
      alpha: toHex(partial.alpha),
      h: toHex(partial.h.exposeBytes()),
    },
    receivers: receivers.map((r, j) => ({
      id: r.id,
      secret: toHex(r.kp.secret.exposeBytes()),
      publicKey: toHex(r.kp.publicKey),
      dimensions: dims[j],
    })),
    reading: reading.map(toHex),
    epoch: { maxReports: 2, maxAgeMs: 60_000 },
    firstNonce: '7',
    timestamps,
    reports: reports.map((r) => ({
      bytes: toHex(r.bytes),
      id: r.idHex,
      json: r.toJSON(),
      decrypted: receivers.map((rc) => {
        const key = ReceiverPrivateKey.create(params, rc.id, rc.kp.secret);
        return new ShareDecryptor(key)
          .open(r)
          .dimensions.map((d) => ({ index: d.index, value: toHex(d.value) }));
      }),
    })),
  };
}

function blsVectors(): unknown {
  const rng = seededRandom('bls');
  const keys = [0, 1, 2].map(() => blsGenerateKeyWithRandom(rng));
  const domain = { tag: BLS_TAGS.vote, chainId: 'cbsg-testnet' };
  const message = utf8('block 12 hash 00ff');
  return {
    domain,
    message: toHex(message),
    signers: keys.map((k) => ({
      secret: toHex(k.secret.exposeBytes()),
      publicKey: toHex(k.publicKey),
      proofOfPossession: toHex(blsProvePossession(k.secret)),
      signature: toHex(blsSign(k.secret, domain, message)),
    })),
  };
}

function nodeLinkVectors(): unknown {
  const rng = seededRandom('node-link');
  const [a, b] = [0, 1].map(() => blsGenerateKeyWithRandom(rng)) as [
    ReturnType<typeof blsGenerateKeyWithRandom>,
    ReturnType<typeof blsGenerateKeyWithRandom>,
  ];
  const chainId = 'cbsg-testnet';
  const nodeIds = ['node-1', 'node-2'] as const;
  return {
    chainId,
    nodeIds,
    nodes: [a, b].map((k) => ({ secret: toHex(k.secret.exposeBytes()), publicKey: toHex(k.publicKey) })),
    linkKey: toHex(nodeLinkKey(a.secret, BlsPublicKey.fromBytes(b.publicKey), chainId, nodeIds)),
  };
}

async function main(): Promise<void> {
  await initCrypto();
  await write('points-invalid.json', pointVectors());
  await write('hashes.json', hashVectors());
  await write('points-invalid-uncompressed.json', uncompressedPointVectors());
  await write('report.json', reportVector(1));
  await write('report-v2.json', reportVector(2));
  await write('bls.json', blsVectors());
  await write('node-link.json', nodeLinkVectors());
}

void main();
