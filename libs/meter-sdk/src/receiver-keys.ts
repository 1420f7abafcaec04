import { fromHex, ReceiverPublicKey, type SystemParams } from '@app/crypto';

/**
 * One ReceiverPublicKey per system, receiver and key in the process, shared by every meter that
 * sends to it. Each key caches g_j = e(Y_R, Ypub2) (a pairing) and, after a few reports, a fixed-base
 * table for g_j^d (about 5 MB, 125 ms to build): a gateway that ran 300 meters, each with its own
 * copies, held 4.5 GB of tables and spent minutes building them while its GC walked millions of
 * objects. Keyed by the key's bytes as well as the id, so a receiver's new key is a new entry.
 */
const shared = new WeakMap<SystemParams, Map<string, ReceiverPublicKey>>();

/** The receiver's key for meters of this process, its point checked in full the first time. */
export function receiverKeyFor(
  params: SystemParams,
  listing: { id: string; publicKey: string },
): ReceiverPublicKey {
  let keys = shared.get(params);
  if (keys === undefined) {
    keys = new Map();
    shared.set(params, keys);
  }
  // fromHex takes lower-case hex only, so a key has one spelling and the listing's names it.
  const name = `${listing.id}\u0000${listing.publicKey}`;
  let key = keys.get(name);
  if (key === undefined) {
    const publicKey = fromHex(listing.publicKey, 'receiver key', 48);
    key = ReceiverPublicKey.register(params, { id: listing.id, publicKey });
    keys.set(name, key);
  }
  return key;
}
