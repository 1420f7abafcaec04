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
