import { constants } from 'node:buffer';

import { MAX_BLOCK_ENTRY_BYTES, MAX_HEADER_BYTES, MAX_QUORUM_CERTIFICATE_BYTES } from '@app/ledger';

import { CATCH_UP_PAGE_BLOCKS } from '../catch-up-page';
import { MAX_MESSAGE_BYTES } from './messages';

/*
 * How large a peer's answer may be, in bytes of JSON, by kind of request (PeerNetwork.get): the
 * largest answer an honest peer can give, so that only a faulty one is ever over it. Without a cap,
 * one faulty peer could make this node buffer, and parse on its main thread, as much as it liked.
 */

/**
 * A peer's status, its list of candidate blocks, a refusal of a message: a few hundred bytes, or about
 * 110 bytes a candidate. The limit of a peer's message holds a list of over 150,000 candidates, days
 * of slots without finality.
 */
export const MAX_PEER_ANSWER_BYTES = MAX_MESSAGE_BYTES;

/**
 * Nothing longer can be parsed here, nor be an honest answer: JSON.parse takes one string, V8's
 * strings end at MAX_STRING_LENGTH characters (about 512 MiB), and a peer's JSON is ASCII (hex,
 * base64, identifiers), one byte a character. A peer serialises its answer as one string too.
 */
const MAX_JSON_BYTES = constants.MAX_STRING_LENGTH;

/**
 * A wire block (blockToWire) but for its body: its keys and quotes (55 bytes), the header, producer
 * signature and certificate in hex.
 */
const WIRE_BLOCK_FRAME_BYTES = 64 + 2 * (MAX_HEADER_BYTES + 96 + MAX_QUORUM_CERTIFICATE_BYTES);

/**
 * The JSON array of `blocks` wire blocks holding `entries` entries in all, each entry of the largest
 * kind: a body is a u32 count, then per entry a u8 type and a u32-prefixed entry (encodeBody), in
 * base64 (4 * ceil(n / 3) characters for n bytes, at most 4 * (n + 2) / 3).
 */
function wireBlocksBytes(blocks: number, entries: number): number {
  const bodyBytes = blocks * 4 + entries * (1 + 4 + MAX_BLOCK_ENTRY_BYTES);
  const base64 = Math.ceil((4 * (bodyBytes + 2 * blocks)) / 3);
  return 2 + blocks * (WIRE_BLOCK_FRAME_BYTES + 1) + base64;
}

/**
 * A candidate block (GET /p2p/candidates/:hash): one block of the consortium's largest, every entry
 * of the largest kind. A full block of typical reports takes about 1.4 KB an entry, but a meter may
 * sign reports up to MAX_REPORT_BYTES, and a block over MAX_MESSAGE_BYTES is not gossiped: its
 * peers pull it, here or in catch-up pages.
 */
export function maxBlockAnswerBytes(maxBlockTransactions: number): number {
  return Math.min(MAX_JSON_BYTES, wireBlocksBytes(1, maxBlockTransactions));
}

/**
 * A page of final blocks (GET /p2p/blocks, ChainRepository.finalBlocks): at most
 * CATCH_UP_PAGE_BLOCKS blocks; those before the last hold fewer than `pageTransactions` entries, the
 * last one may be of the consortium's largest.
 */
export function maxCatchUpPageBytes(pageTransactions: number, maxBlockTransactions: number): number {
  return Math.min(
    MAX_JSON_BYTES,
    wireBlocksBytes(CATCH_UP_PAGE_BLOCKS, pageTransactions - 1 + maxBlockTransactions),
  );
}
