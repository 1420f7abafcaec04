import {
  BLS_TAGS,
  BlsDomain,
  BlsPublicKey,
  blsAggregateSignatures,
  blsBatchVerify,
  blsFastAggregateVerify,
  blsGenerateKey,
  blsProvePossession,
  blsSign,
  blsSignAggregate,
  blsVerify,
  blsVerifyPossession,
  NODE_LINK_KEY_BYTES,
  nodeLinkKey,
} from './bls';
import { utf8 } from './bytes';
import { initCrypto, mcl, ready } from './mcl';
import { decodeG1, encodeG1, encodeG2 } from './points';
import { scalarOf, SecretScalar } from './secret';
import { expectCode } from '../test/expect-error';

const vote: BlsDomain = { tag: BLS_TAGS.vote, chainId: 'cbsg-main' };
const block = utf8('block 1234 / 9f86d081884c7d65');

beforeAll(async () => {
  await initCrypto();
});

describe('BLS signatures (min-pk, proof of possession)', () => {
  it('given a signature when verified under another message, tag or chain should fail, and under its own should pass', () => {
    const k = blsGenerateKey();
    const pk = BlsPublicKey.fromBytes(k.publicKey);
    const sig = blsSign(k.secret, vote, block);
    expect(sig).toHaveLength(96);
    expect(blsVerify(pk, vote, block, sig)).toBe(true);
    expect(blsVerify(pk, vote, utf8('block 1235'), sig)).toBe(false);
    expect(blsVerify(pk, { ...vote, tag: BLS_TAGS.block }, block, sig)).toBe(false);
    expect(blsVerify(pk, { ...vote, chainId: 'cbsg-test' }, block, sig)).toBe(false);
    expect(blsVerify(BlsPublicKey.fromBytes(blsGenerateKey().publicKey), vote, block, sig)).toBe(false);
    expect(blsVerify(pk, vote, block, sig.subarray(1))).toBe(false);
  });

  it('given a rogue key built from a victim key when aggregated should forge without a proof of possession, and have no valid proof', () => {
    const { P1 } = ready();
    const victim = blsGenerateKey();
    const attacker = SecretScalar.random();
    // pk_rogue = a*P1 - pk_victim: the aggregate of the two keys is a*P1, which the attacker controls.
    const rogue = encodeG1(mcl.sub(mcl.mul(P1, scalarOf(attacker)), decodeG1(victim.publicKey, 'pk')));
    const forged = blsSign(attacker, vote, block);
    const keys = [BlsPublicKey.fromBytes(victim.publicKey), BlsPublicKey.fromBytes(rogue)];
    expect(blsFastAggregateVerify(keys, vote, block, forged)).toBe(true);
    // Registration stops it: the attacker cannot prove possession of the rogue key.
    expect(blsVerifyPossession(keys[1]!, blsProvePossession(attacker))).toBe(false);
    expect(blsVerifyPossession(keys[0]!, blsProvePossession(victim.secret))).toBe(true);
    expect(blsVerifyPossession(keys[0]!, blsProvePossession(attacker))).toBe(false);
  });

  it('given many signers of one message when aggregated should pass fast aggregate verification, and fail with a signer missing', () => {
    const signers = Array.from({ length: 40 }, () => blsGenerateKey());
    const aggregate = blsAggregateSignatures(signers.map((s) => blsSign(s.secret, vote, block)));
    const keys = signers.map((s) => BlsPublicKey.fromBytes(s.publicKey));
    expect(blsFastAggregateVerify(keys, vote, block, aggregate)).toBe(true);
    expect(blsFastAggregateVerify(keys.slice(1), vote, block, aggregate)).toBe(false);
    expect(blsFastAggregateVerify([], vote, block, aggregate)).toBe(false);
    expect(blsFastAggregateVerify(keys, vote, utf8('other block'), aggregate)).toBe(false);
  });

  it('given several secrets signing one message together should equal the aggregate of their own signatures, byte for byte', () => {
    const signers = Array.from({ length: 7 }, () => blsGenerateKey());
    const together = blsSignAggregate(
      signers.map((s) => s.secret),
      vote,
      block,
    );
    expect(together).toEqual(blsAggregateSignatures(signers.map((s) => blsSign(s.secret, vote, block))));
    expect(blsSignAggregate([signers[0]!.secret], vote, block)).toEqual(
      blsSign(signers[0]!.secret, vote, block),
    );
    const keys = signers.map((s) => BlsPublicKey.fromBytes(s.publicKey));
    expect(blsFastAggregateVerify(keys, vote, block, together)).toBe(true);
    expect(blsFastAggregateVerify(keys.slice(1), vote, block, together)).toBe(false);
    expect(() => blsSignAggregate([], vote, block)).toThrow(RangeError);
  });

  it('given a batch of (key, message, signature) with two bad ones when batch-verified should name exactly those', () => {
    const keys = Array.from({ length: 12 }, () => blsGenerateKey());
    const messages = [block, utf8('block 1235'), utf8('peer hello')];
    const items = keys.map((k, i) => {
      const message = messages[i % 3]!;
      const domain = i % 3 === 2 ? { tag: BLS_TAGS.block, chainId: 'cbsg-main' } : vote;
      return {
        publicKey: BlsPublicKey.fromBytes(k.publicKey),
        domain,
        message,
        signature: blsSign(k.secret, domain, message),
      };
    });
    expect(blsBatchVerify(items)).toEqual({ allValid: true, invalid: [] });
    items[4] = { ...items[4]!, message: utf8('tampered') };
    items[9] = { ...items[9]!, signature: encodeG2(mcl.neg(mcl.hashAndMapToG2('x'))) };
    items[10] = { ...items[10]!, signature: new Uint8Array(96) };
    expect(blsBatchVerify(items)).toEqual({ allValid: false, invalid: [4, 9, 10] });
  });

  it('given invalid public key bytes when registering should fail with the point errors', () => {
    const identity = new Uint8Array(48);
    identity[0] = 0xc0;
    expectCode(() => BlsPublicKey.fromBytes(identity), 'CRYPTO.POINT_IS_IDENTITY');
    const small = new Uint8Array(48);
    small[0] = 0x80;
    expectCode(() => BlsPublicKey.fromBytes(small), 'CRYPTO.POINT_NOT_IN_SUBGROUP');
    expectCode(() => BlsPublicKey.fromBytes(new Uint8Array(47)), 'CRYPTO.ENCODING_TRUNCATED');
    expectCode(
      () => blsSign(SecretScalar.random(), { tag: 'bad tag', chainId: 'x' }, block),
      'CRYPTO.INVALID_IDENTIFIER',
    );
  });
});

describe('node-link keys (static Diffie-Hellman on node keys)', () => {
  it('given two nodes when each derives their link key should get the same one, and no other pair, chain or id should', () => {
    const [a, b, c] = [blsGenerateKey(), blsGenerateKey(), blsGenerateKey()] as const;
    const pk = (k: { publicKey: Uint8Array }) => BlsPublicKey.fromBytes(k.publicKey);
    const ab = nodeLinkKey(a.secret, pk(b), 'cbsg-main', ['node-a', 'node-b']);
    expect(ab).toHaveLength(NODE_LINK_KEY_BYTES);
    expect(nodeLinkKey(b.secret, pk(a), 'cbsg-main', ['node-b', 'node-a']).equals(ab)).toBe(true);
    for (const other of [
      nodeLinkKey(a.secret, pk(c), 'cbsg-main', ['node-a', 'node-b']), // another peer's key
      nodeLinkKey(c.secret, pk(b), 'cbsg-main', ['node-a', 'node-b']), // a third node posing as a
      nodeLinkKey(a.secret, pk(b), 'cbsg-test', ['node-a', 'node-b']), // another chain
      nodeLinkKey(a.secret, pk(b), 'cbsg-main', ['node-a', 'node-c']), // another name for the peer
    ]) {
      expect(other.equals(ab)).toBe(false);
    }
  });

  it('given one node id twice or a bad id should refuse to derive a key', () => {
    const a = blsGenerateKey();
    const pk = BlsPublicKey.fromBytes(blsGenerateKey().publicKey);
    expectCode(
      () => nodeLinkKey(a.secret, pk, 'cbsg-main', ['node-a', 'node-a']),
      'CRYPTO.INVALID_IDENTIFIER',
    );
    expectCode(
      () => nodeLinkKey(a.secret, pk, 'cbsg main', ['node-a', 'node-b']),
      'CRYPTO.INVALID_IDENTIFIER',
    );
    expectCode(() => nodeLinkKey(a.secret, pk, 'cbsg-main', ['node-a', '']), 'CRYPTO.INVALID_IDENTIFIER');
  });
});
