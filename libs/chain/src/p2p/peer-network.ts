import { Inject, Injectable, Logger } from '@nestjs/common';
import { Counter, Registry } from 'prom-client';

import { IdentityTokenSource } from '@app/auth';
import { APP_CONFIG, type AppConfig } from '@app/config';

import { ChainContext } from '../chain-context.service';
import { MAX_PEER_ANSWER_BYTES } from './answer-caps';
import { MAX_MESSAGE_BYTES, type MessageType, OutgoingMessage } from './messages';

export interface PeerStatus {
  id: string;
  url: string;
  reachable: boolean;
  lastError?: string;
  lastContact?: Date;
}

/** What a GET asks of a peer's answer, but for its path. */
export interface PeerRequest {
  /** The largest answer taken, in bytes of JSON (answer-caps.ts): MAX_PEER_ANSWER_BYTES by default. */
  maxBytes?: number;
  timeoutMs?: number;
}

const REQUEST_TIMEOUT_MS = 10_000;

/** A peer's answer over the byte cap of its request: nothing of it is used. */
export class AnswerTooLargeError extends Error {
  constructor(maxBytes: number, declared?: number) {
    super(
      `its answer is over ${maxBytes} bytes${declared === undefined ? '' : ` (Content-Length ${declared})`}`,
    );
  }
}

/**
 * The other nodes, over HTTP: MACed messages pushed to POST {peer}/p2p/messages, and final blocks
 * pulled from GET {peer}/p2p/blocks when catching up. A peer that does not answer is marked
 * unreachable and tried again with the next message; nothing waits for it. So is a peer whose answer
 * is over the byte cap of its request.
 */
@Injectable()
export class PeerNetwork {
  private readonly logger = new Logger(PeerNetwork.name);
  private readonly status = new Map<string, PeerStatus>();
  private readonly overCap: Counter<'peer'>;
  private tokens: IdentityTokenSource | undefined;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly context: ChainContext,
    @Inject(Registry) metrics: Registry,
  ) {
    for (const peer of config.chain.peers) {
      this.status.set(peer.id, { id: peer.id, url: peer.url, reachable: false });
    }
    this.overCap = new Counter({
      name: 'cbsg_p2p_answers_over_cap_total',
      help: "Peers' answers refused for being over the byte cap of their request, by peer",
      labelNames: ['peer'],
      registers: [metrics],
    });
  }

  peers(): PeerStatus[] {
    return [...this.status.values()].map((p) => ({ ...p }));
  }

  /**
   * Sends a message to every peer (but `except`, the one it came from when relayed), MACed for each;
   * resolves when all have answered or failed (never throws).
   */
  async broadcast(type: MessageType, payload: Record<string, unknown>, except?: string): Promise<void> {
    if (this.status.size === 0 || !this.context.hasNodeKey()) {
      return;
    }
    const message = new OutgoingMessage(this.context.nodeId, type, payload);
    if (message.size > MAX_MESSAGE_BYTES) {
      // Peers would refuse it; a block this large reaches them by catch-up instead.
      this.logger.debug(`not sending a ${type} message of ${message.size} bytes: over the limit`);
      return;
    }
    const sends: Array<Promise<void>> = [];
    for (const peer of this.status.values()) {
      // Every configured peer is a genesis node (checked at start), so it shares a key with this one.
      const linkKey = peer.id === except ? undefined : this.context.linkKey(peer.id);
      if (linkKey) {
        sends.push(this.post(peer, message.bodyFor(linkKey)));
      }
    }
    await Promise.all(sends);
  }

  /**
   * GET a path on one peer (JSON); undefined if it does not answer well within `timeoutMs`, or answers
   * more than `maxBytes`.
   */
  async get<T>(
    peerId: string,
    path: string,
    { maxBytes = MAX_PEER_ANSWER_BYTES, timeoutMs = REQUEST_TIMEOUT_MS }: PeerRequest = {},
  ): Promise<T | undefined> {
    const peer = this.status.get(peerId);
    if (!peer) {
      return undefined;
    }
    try {
      const response = await fetch(`${peer.url}${path}`, {
        headers: this.context.hasNodeKey() ? { authorization: this.authorization() } : {},
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (!response.ok) {
        throw new Error(`HTTP ${response.status}`);
      }
      this.mark(peer, true);
      return (await readJson(response, maxBytes)) as T;
    } catch (error) {
      this.failed(peer, error);
      return undefined;
    }
  }

  /** This node's token: its peers serve their blocks to nodes of the chain only. */
  private authorization(): string {
    this.tokens ??= new IdentityTokenSource(this.context.nodeKey(), this.context.chainId, {
      kind: 'node',
      id: this.context.nodeId,
    });
    return this.tokens.authorization();
  }

  private async post(peer: PeerStatus, body: string): Promise<void> {
    try {
      const response = await fetch(`${peer.url}/p2p/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      if (!response.ok && response.status !== 409) {
        // A refusal that does not parse is still an answer; one over the cap is the peer's fault.
        const answer = (await readJson(response, MAX_PEER_ANSWER_BYTES).catch((error: unknown) => {
          if (error instanceof AnswerTooLargeError) {
            throw error;
          }
          return {};
        })) as { code?: string; message?: string };
        this.logger.debug(
          `${peer.id} refused a message: ${answer.code ?? response.status} ${answer.message ?? ''}`,
        );
      }
      this.mark(peer, true);
    } catch (error) {
      this.failed(peer, error);
    }
  }

  private failed(peer: PeerStatus, error: unknown): void {
    if (error instanceof AnswerTooLargeError) {
      this.overCap.inc({ peer: peer.id });
    }
    this.mark(peer, false, (error as Error).message);
  }

  private mark(peer: PeerStatus, reachable: boolean, error?: string): void {
    if (peer.reachable !== reachable) {
      if (reachable) {
        this.logger.log(`peer ${peer.id} is reachable`);
      } else {
        this.logger.warn(`peer ${peer.id} is unreachable: ${error}`);
      }
    }
    peer.reachable = reachable;
    peer.lastError = reachable ? undefined : error;
    if (reachable) {
      peer.lastContact = new Date();
    }
  }
}

/**
 * The JSON of a peer's answer, read under `maxBytes`. The body is counted as it streams in (after any
 * content coding, so a small compressed answer cannot inflate past the cap), and the request is
 * aborted at the first chunk over: this node never holds more than the cap of it. A Content-Length
 * over the cap is refused before the body is read; one under it proves nothing.
 */
async function readJson(response: Response, maxBytes: number): Promise<unknown> {
  const declared = Number(response.headers.get('content-length'));
  if (!response.headers.has('content-encoding') && declared > maxBytes) {
    const error = new AnswerTooLargeError(maxBytes, declared);
    await response.body?.cancel(error).catch(() => undefined);
    throw error;
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (response.body) {
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        break;
      }
      size += value.byteLength;
      if (size > maxBytes) {
        const error = new AnswerTooLargeError(maxBytes);
        // Cancelling the body aborts the request: undici closes the connection.
        await reader.cancel(error).catch(() => undefined);
        throw error;
      }
      chunks.push(value);
    }
  }
  // As Response.json does: UTF-8, a byte-order mark dropped.
  return JSON.parse(new TextDecoder().decode(Buffer.concat(chunks, size)));
}
