import type { Transaction } from '@app/ledger';

/** The node's answer to a transaction it did not take: its status, its error code, its text. */
export class NodeRefusal extends Error {
  constructor(
    readonly status: number,
    readonly code: string | undefined,
    readonly text: string,
  ) {
    super(`the node refused the transaction: ${status} ${text}`);
  }
}

/** Submits a signed transaction to the node; a refusal throws NodeRefusal, no answer the fetch error. */
export async function submitTransaction(nodeUrl: string, tx: Transaction): Promise<void> {
  const response = await fetch(`${nodeUrl}/transactions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(tx.toJSON()),
    signal: AbortSignal.timeout(15_000),
  });
  if (!response.ok) {
    const text = await response.text();
    let code: string | undefined;
    try {
      code = (JSON.parse(text) as { code?: string }).code;
    } catch {
      // not the node's JSON error (a proxy's page): no code
    }
    throw new NodeRefusal(response.status, code, text);
  }
  await response.body?.cancel();
}

/**
 * Whether a failed submission certainly left the transaction out of every mempool: the node answered
 * 4xx (it refused it, or did not take the request), or no server took the connection. Anything else
 * (no answer in time, a reset, a 5xx) may have come after the node admitted it, and gossiped it.
 */
export function reachedNoMempool(error: unknown): boolean {
  if (error instanceof NodeRefusal) {
    return error.status >= 400 && error.status < 500;
  }
  const code = (error as { cause?: { code?: string } } | undefined)?.cause?.code;
  return code === 'ECONNREFUSED' || code === 'ENOTFOUND';
}

/** What GET /transactions/:hash answers: where the node has the transaction. */
export type NodeTransactionStatus =
  { status: 'final'; height: string; blockHash: string } | { status: 'included' | 'pending' | 'unknown' };

/** Asks the node where a transaction is (final, included in a block not final yet, pending, unknown). */
export async function lookUpTransaction(
  nodeUrl: string,
  authorization: string,
  hashHex: string,
): Promise<NodeTransactionStatus> {
  const response = await fetch(`${nodeUrl}/transactions/${hashHex}`, {
    headers: { authorization },
    signal: AbortSignal.timeout(15_000),
  });
  if (!response.ok) {
    await response.body?.cancel();
    throw new Error(`the node answered ${response.status} for transaction ${hashHex}`);
  }
  return (await response.json()) as NodeTransactionStatus;
}

/** The node's final height (GET /chain/status). */
export async function nodeFinalHeight(nodeUrl: string): Promise<bigint> {
  const response = await fetch(`${nodeUrl}/chain/status`, { signal: AbortSignal.timeout(15_000) });
  if (!response.ok) {
    await response.body?.cancel();
    throw new Error(`the node answered ${response.status} for its status`);
  }
  return BigInt(((await response.json()) as { final: { height: string } }).final.height);
}
