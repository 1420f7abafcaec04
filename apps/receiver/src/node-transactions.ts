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
 * Sends a transaction stored before it was sent (a retry sends the same bytes, which a node that took
 * them answers as a duplicate). A node that refuses it as too old (TX.STALE: it waited out an outage,
 * and the node does not know it) gets `resign`'s replacement instead: the same body under a fresh
 * timestamp, stored in its place. Returns the transaction the node took, or undefined when `resign`
 * found the stored one already replaced (another process sends that).
 */
export async function submitStored(
  nodeUrl: string,
  tx: Transaction,
  resign: (stale: Transaction) => Promise<Transaction | undefined>,
  logger: { warn(message: string): void },
): Promise<Transaction | undefined> {
  try {
    await submitTransaction(nodeUrl, tx);
    return tx;
  } catch (error) {
    if (!(error instanceof NodeRefusal && error.code === 'TX.STALE')) {
      throw error;
    }
  }
  const fresh = await resign(tx);
  if (!fresh) {
    return undefined;
  }
  logger.warn(`${tx.kind} ${tx.hashHex} waited too long for the node; signed again as ${fresh.hashHex}`);
  await submitTransaction(nodeUrl, fresh);
  return fresh;
}
