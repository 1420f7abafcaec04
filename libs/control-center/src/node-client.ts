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

/** No answer at all: the node is down, the address is wrong, or the connection broke. */
export class NodeUnreachableError extends Error {
  constructor(
    readonly baseUrl: string,
    readonly reason: string,
  ) {
    super(`cannot reach the node at ${baseUrl}: ${reason}`);
    this.name = 'NodeUnreachableError';
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

/** The node's answer to a submitted transaction: in its mempool, waiting for a block. */
export interface SubmissionReceipt {
  hash: string;
  kind: string;
  status: string;
  /** True when the node had accepted this exact transaction before (submission is idempotent). */
  duplicate: boolean;
}

/** Where a transaction is (GET /transactions/:hash). */
export interface TransactionStatusView {
  status: 'pending' | 'included' | 'final' | 'unknown';
  hash: string;
  kind?: string;
  height?: string;
  position?: number;
  blockHash?: string;
}

/** The few node endpoints the control center and the command line use. */
export class NodeClient {
  private readonly baseUrl: string;

  constructor(
    baseUrl: string,
    /** An Authorization header for the reads that need a member's credentials (a transaction's status). */
    private readonly authorization?: () => string,
  ) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
  }

  async identity(subject: 'meter' | 'receiver', id: string): Promise<IdentityView | undefined> {
    const response = await this.request(`/${subject}s/${encodeURIComponent(id)}`);
    if (response.status === 404) {
      return undefined;
    }
    return this.answer<IdentityView>(response);
  }

  async genesisHash(): Promise<string> {
    return (await this.genesis()).hash;
  }

  /** The genesis hash and the chain id it names (transactions are signed for one chain). */
  async genesis(): Promise<{ hash: string; chainId: string }> {
    const body = await this.answer<{ hash: string; document: { chainId: string } }>(
      await this.request('/genesis'),
    );
    return { hash: body.hash, chainId: body.document.chainId };
  }

  async submit(tx: TransactionJson): Promise<SubmissionReceipt> {
    const response = await this.request('/transactions', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(tx),
    });
    return this.answer<SubmissionReceipt>(response);
  }

  async transactionStatus(hash: string): Promise<TransactionStatusView> {
    return this.answer<TransactionStatusView>(
      await this.request(`/transactions/${encodeURIComponent(hash)}`),
    );
  }

  private async request(pathname: string, init?: RequestInit): Promise<Response> {
    try {
      const headers = new Headers(init?.headers);
      if (this.authorization) {
        headers.set('authorization', this.authorization());
      }
      return await fetch(`${this.baseUrl}${pathname}`, { ...init, headers });
    } catch (error) {
      // fetch hides the system error (ECONNREFUSED, ENOTFOUND...) in its cause.
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new NodeUnreachableError(this.baseUrl, cause?.code ?? cause?.message ?? (error as Error).message);
    }
  }

  private async answer<T>(response: Response): Promise<T> {
    const text = await response.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      // Not the node's JSON (a proxy's error page, another service on that port).
      throw new NodeRequestError(
        response.status,
        `HTTP.${response.status}`,
        `the answer is not JSON: ${text.slice(0, 200)}`,
      );
    }
    if (!response.ok) {
      throw errorOf(response.status, body);
    }
    return body as T;
  }
}

function errorOf(status: number, body: unknown): NodeRequestError {
  const b = body as { code?: string; message?: string } | null;
  return new NodeRequestError(status, b?.code ?? `HTTP.${status}`, b?.message ?? `node answered ${status}`);
}
