import { BlsPublicKey, blsGenerateKey, initCrypto } from '@app/crypto';

import { MAX_TX_BODY_BYTES, MAX_TX_BYTES, Transaction, TransactionFormatError } from './transaction';

describe('Transaction', () => {
  beforeAll(async () => {
    await initCrypto();
  });

  const sender = () => {
    const key = blsGenerateKey();
    return { key, publicKey: BlsPublicKey.fromBytes(key.publicKey) };
  };

  const fields = {
    chainId: 'cbsg-test',
    kind: 'meter.revoke' as const,
    sender: 'grid-operator',
    timestamp: Date.UTC(2026, 10, 26, 12),
    body: { reason: 'stolen', meterId: 'meter-7' },
  };

  it('given a signed transaction, when encoded and decoded or sent as JSON, should keep its hash and verify', () => {
    const { key, publicKey } = sender();
    const tx = Transaction.sign(fields, key.secret);
    expect(tx.verifySignature(publicKey)).toBe(true);
    const decoded = Transaction.decode(tx.encode());
    expect(decoded.hashHex).toBe(tx.hashHex);
    expect(decoded.verifySignature(publicKey)).toBe(true);
    const fromJson = Transaction.fromJSON(JSON.parse(JSON.stringify(tx)));
    expect(fromJson.hashHex).toBe(tx.hashHex);
    expect(fromJson.body).toEqual({ meterId: 'meter-7', reason: 'stolen' });
  });

  it('given any signed field changed, when verified, should fail; another chain or key should fail too', () => {
    const { key, publicKey } = sender();
    const json = Transaction.sign(fields, key.secret).toJSON();
    const variants: object[] = [
      { ...json, body: { ...json.body, reason: 'fine after all' } },
      { ...json, sender: 'control-center' },
      { ...json, timestamp: json.timestamp + 1 },
      { ...json, kind: 'meter.register' },
      { ...json, chainId: 'cbsg-other' },
    ];
    for (const variant of variants) {
      expect(Transaction.fromJSON(variant).verifySignature(publicKey)).toBe(false);
    }
    expect(Transaction.fromJSON(json).verifySignature(sender().publicKey)).toBe(false);
  });

  it.each([
    [{ extra: 1 }, 'unknown field(s): extra'],
    [{ kind: 'meter.teleport' }, 'kind must be one of'],
    [{ sender: 'has space' }, 'sender must be an organisation identifier'],
    [{ timestamp: -5 }, 'timestamp must be epoch milliseconds'],
    [{ body: [1, 2] }, 'body must be a JSON object'],
    [{ signature: 'zz' }, 'signature'],
    [{ version: 2 }, 'version must be 1'],
  ])(
    'given a malformed JSON transaction (%j), when parsed, should refuse it with a clear reason',
    (change, message) => {
      const { key } = sender();
      const json = { ...Transaction.sign(fields, key.secret).toJSON(), ...change };
      expect(() => Transaction.fromJSON(json)).toThrow(TransactionFormatError);
      expect(() => Transaction.fromJSON(json)).toThrow(message);
    },
  );

  it('given text Postgres cannot store (a lone surrogate), when signed, parsed or decoded, should refuse it', () => {
    const { key } = sender();
    const bad = { ...fields, body: { ...fields.body, reason: 'bad \ud800 reason' } };
    expect(() => Transaction.sign(bad, key.secret)).toThrow(TransactionFormatError);
    const json = Transaction.sign(fields, key.secret).toJSON();
    expect(() => Transaction.fromJSON({ ...json, body: bad.body })).toThrow(/lone UTF-16 surrogate/);
    // As a block from a faulty producer would carry it: the escape in the body's bytes, same length.
    const bytes = Buffer.from(Transaction.sign(fields, key.secret).encode());
    const at = bytes.indexOf('stolen');
    bytes.write('\\ud800', at, 'latin1');
    expect(() => Transaction.decode(bytes)).toThrow(/lone UTF-16 surrogate/);
  });

  it('given the largest fields a transaction takes (a chain id of 64 characters, a sender of 128, a body of MAX_TX_BODY_BYTES), should encode within MAX_TX_BYTES; a byte more of body is refused', () => {
    const { key } = sender();
    const largest = {
      ...fields,
      chainId: 'c'.repeat(64),
      kind: 'receiver.publication' as const,
      sender: 's'.repeat(128),
      body: { data: 'x'.repeat(MAX_TX_BODY_BYTES - '{"data":""}'.length) },
    };
    expect(Transaction.sign(largest, key.secret).encode().length).toBeLessThanOrEqual(MAX_TX_BYTES);
    const over = { ...largest, body: { data: `${largest.body.data}x` } };
    expect(() => Transaction.sign(over, key.secret)).toThrow(/body is larger than/);
  });

  it('given truncated or padded bytes, when decoded, should refuse them', () => {
    const { key } = sender();
    const bytes = Transaction.sign(fields, key.secret).encode();
    expect(() => Transaction.decode(bytes.subarray(0, bytes.length - 1))).toThrow(TransactionFormatError);
    expect(() => Transaction.decode(Buffer.concat([bytes, Buffer.of(0)]))).toThrow(TransactionFormatError);
  });
});
