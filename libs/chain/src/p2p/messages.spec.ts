import {
  MESSAGE_WINDOW_MS,
  MessageRefusedError,
  openMessage,
  OutgoingMessage,
  sealMessage,
} from './messages';

const NOW = 1_780_000_000_000;
const linkKey = Buffer.alloc(32, 7);
const otherKey = Buffer.alloc(32, 8);
const keys = new Map([['node-2', linkKey]]);
const linkKeyOf = (id: string) => keys.get(id);
const payload = { votes: [{ height: '12', blockHash: 'ab'.repeat(32) }] };

function refusal(value: unknown, now = NOW): string {
  try {
    openMessage(value, linkKeyOf, now);
  } catch (error) {
    if (error instanceof MessageRefusedError) {
      return error.code;
    }
    throw error;
  }
  throw new Error('the message was taken');
}

describe('peer messages: MACed for each peer with the link key', () => {
  it('given a message sealed with the link key when opened should give back what was sent', () => {
    const message = sealMessage(linkKey, 'node-2', 'votes', payload, NOW);
    expect(openMessage(JSON.parse(JSON.stringify(message)), linkKeyOf, NOW)).toEqual({
      from: 'node-2',
      type: 'votes',
      timestamp: NOW,
      payload,
      mac: message.mac,
    });
  });

  it('given known inputs should give the recorded MAC, so that a change of the digest or the MAC shows', () => {
    // HMAC-SHA256(key 0x07 * 32, SHA-256(canonical JSON of from, type, timestamp, payload)), computed
    // apart with Python's json (sorted keys, no spaces), hashlib and hmac.
    expect(sealMessage(linkKey, 'node-2', 'votes', payload, NOW).mac).toBe(
      'ccc3a8f45d301d64cfdeb7d077b9f28183676ecc10e0747236c5557de2b123d3',
    );
  });

  it('given a message changed after sealing, or sealed with another key, should refuse it with P2P.BAD_MAC', () => {
    const message = sealMessage(linkKey, 'node-2', 'votes', payload, NOW);
    expect(refusal({ ...message, payload: { votes: [] } })).toBe('P2P.BAD_MAC');
    expect(refusal({ ...message, type: 'block' })).toBe('P2P.BAD_MAC');
    expect(refusal({ ...message, timestamp: NOW + 1 })).toBe('P2P.BAD_MAC');
    expect(refusal(sealMessage(otherKey, 'node-2', 'votes', payload, NOW))).toBe('P2P.BAD_MAC');
  });

  it('given a stranger, a stale or future message, or a malformed one should refuse it with its reason', () => {
    expect(refusal(sealMessage(linkKey, 'node-9', 'votes', payload, NOW))).toBe('P2P.UNKNOWN_SENDER');
    expect(refusal(sealMessage(linkKey, 'node-2', 'votes', payload, NOW - MESSAGE_WINDOW_MS - 1))).toBe(
      'P2P.STALE',
    );
    expect(refusal(sealMessage(linkKey, 'node-2', 'votes', payload, NOW + MESSAGE_WINDOW_MS + 1))).toBe(
      'P2P.STALE',
    );
    const message = sealMessage(linkKey, 'node-2', 'votes', payload, NOW);
    expect(refusal({ ...message, mac: message.mac.slice(2) })).toBe('P2P.MALFORMED');
    expect(refusal({ ...message, signature: 'ab' })).toBe('P2P.MALFORMED');
    expect(refusal({ ...message, type: 'gossip' })).toBe('P2P.MALFORMED');
    expect(refusal('not a message')).toBe('P2P.MALFORMED');
    expect(refusal({ ...message, payload: { n: 2 ** 60 } })).toBe('P2P.MALFORMED');
  });

  it('given one message for two peers should serialise it once and differ only in each one’s MAC', () => {
    const outgoing = new OutgoingMessage('node-1', 'votes', payload, NOW);
    const [a, b] = [outgoing.bodyFor(linkKey), outgoing.bodyFor(otherKey)].map(
      (body) => JSON.parse(body) as Record<string, unknown>,
    );
    expect(a!.mac).not.toBe(b!.mac);
    expect({ ...a, mac: undefined }).toEqual({ ...b, mac: undefined });
    expect(outgoing.size).toBe(
      Buffer.byteLength(JSON.stringify({ from: 'node-1', type: 'votes', timestamp: NOW, payload })),
    );
  });
});
