import type { TransactionJson } from '@app/ledger';

/** Error answered by a node's HTTP API (its JSON error body). */
export class NodeRequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'NodeRequestError';
  }
}

export interface IdentityView {
  id: string;
  status: 'registered' | 'active' | 'revoked';
  publicKey: string;
  alpha: string | null;
  registeredTx: string;
  activatedTx: string | null;
}

/** The few node endpoints the control center uses. */
export class NodeClient {
  constructor(private readonly baseUrl: string) {}

  async identity(subject: 'meter' | 'receiver', id: string): Promise<IdentityView | undefined> {
    const response = await fetch(`${this.baseUrl}/${subject}s/${encodeURIComponent(id)}`);
    if (response.status === 404) {
      return undefined;
    }
    const body = (await response.json()) as IdentityView;
    if (!response.ok) {
      throw errorOf(response.status, body);
    }
    return body;
  }

  async genesisHash(): Promise<string> {
    const response = await fetch(`${this.baseUrl}/genesis`);
    const body = (await response.json()) as { hash: string };
    if (!response.ok) {
      throw errorOf(response.status, body);
    }
    return body.hash;
  }

  async submit(tx: TransactionJson): Promise<{ hash: string; duplicate: boolean }> {
    const response = await fetch(`${this.baseUrl}/transactions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(tx),
    });
    const body = (await response.json()) as { hash: string; duplicate: boolean };
    if (!response.ok) {
      throw errorOf(response.status, body);
    }
    return body;
  }
}

function errorOf(status: number, body: unknown): NodeRequestError {
  const b = body as { code?: string; message?: string } | null;
  return new NodeRequestError(status, b?.code ?? `HTTP.${status}`, b?.message ?? `node answered ${status}`);
}
