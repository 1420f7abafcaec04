import type { ErrorBody } from './api-types';

/** The admin key, for this browser tab only: closing the tab forgets it. */
const KEY_ITEM = 'cbsg.console.adminKey';

export function storedKey(): string | null {
  return sessionStorage.getItem(KEY_ITEM);
}

export function storeKey(key: string): void {
  sessionStorage.setItem(KEY_ITEM, key);
}

export function forgetKey(): void {
  sessionStorage.removeItem(KEY_ITEM);
}

/** A refusal or failure of the node, with its stable code and reason. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

type SignedOutListener = (reason: string) => void;
let signedOut: SignedOutListener = () => undefined;

/** Who hears that the node refused the key (401): the app, which goes back to the login. */
export function onSignedOut(listener: SignedOutListener): void {
  signedOut = listener;
}

async function errorOf(response: Response): Promise<ApiError> {
  const body = (await response.json().catch(() => null)) as Partial<ErrorBody> | null;
  return new ApiError(
    response.status,
    body?.code ?? `HTTP.${response.status}`,
    body?.message ?? (response.statusText || `the node answered ${response.status}`),
  );
}

/**
 * Calls the node with the admin key as a Bearer token. A 401 means the key no longer counts (revoked,
 * or never valid): it is forgotten and the login shows the node's reason.
 */
export async function api<T>(
  path: string,
  options: { method?: 'GET' | 'POST'; signal?: AbortSignal } = {},
): Promise<T> {
  const key = storedKey();
  const response = await fetch(path, {
    method: options.method ?? 'GET',
    headers: {
      accept: 'application/json',
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...(options.method === 'POST' ? { 'content-type': 'application/json' } : {}),
    },
    ...(options.method === 'POST' ? { body: '{}' } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  if (!response.ok) {
    const error = await errorOf(response);
    if (response.status === 401) {
      forgetKey();
      signedOut(`${error.message} (${error.code})`);
    }
    throw error;
  }
  return (await response.json()) as T;
}

export function describeError(error: unknown): string {
  if (error instanceof ApiError) {
    return `${error.message} (${error.code})`;
  }
  if (error instanceof TypeError) {
    // fetch() rejects with a TypeError when nothing answers at all.
    return 'the node does not answer';
  }
  return error instanceof Error ? error.message : String(error);
}
