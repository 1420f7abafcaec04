import { Inject, Injectable, Logger } from '@nestjs/common';

import { IdentityTokenSource } from '@app/auth';
import { APP_CONFIG, type AppConfig } from '@app/config';

import { ChainContext } from '../chain-context.service';
import { MAX_MESSAGE_BYTES, type MessageType, OutgoingMessage } from './messages';

export interface PeerStatus {
  id: string;
  url: string;
  reachable: boolean;
  lastError?: string;
  lastContact?: Date;
}

const REQUEST_TIMEOUT_MS = 10_000;

/**
 * The other nodes, over HTTP: MACed messages pushed to POST {peer}/p2p/messages, and final blocks
 * pulled from GET {peer}/p2p/blocks when catching up. A peer that does not answer is marked
 * unreachable and tried again with the next message; nothing waits for it.
 */
@Injectable()
export class PeerNetwork {
  private readonly logger = new Logger(PeerNetwork.name);
  private readonly status = new Map<string, PeerStatus>();
  private tokens: IdentityTokenSource | undefined;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly context: ChainContext,
  ) {
    for (const peer of config.chain.peers) {
      this.status.set(peer.id, { id: peer.id, url: peer.url, reachable: false });
    }
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

  /** GET a path on one peer (JSON); undefined if it does not answer well within `timeoutMs`. */
  async get<T>(peerId: string, path: string, timeoutMs = REQUEST_TIMEOUT_MS): Promise<T | undefined> {
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
      return (await response.json()) as T;
    } catch (error) {
      this.mark(peer, false, (error as Error).message);
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
        const answer = (await response.json().catch(() => ({}))) as { code?: string; message?: string };
        this.logger.debug(
          `${peer.id} refused a message: ${answer.code ?? response.status} ${answer.message ?? ''}`,
        );
      }
      this.mark(peer, true);
    } catch (error) {
      this.mark(peer, false, (error as Error).message);
    }
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
