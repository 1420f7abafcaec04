import {
  blsProvePossession,
  blsSign,
  checkPartialKey,
  fromHex,
  generateKeyPair,
  type KeyPair,
  MeterPrivateKey,
  openPartialKey,
  type PartialPrivateKey,
  type SecretScalar,
  type SystemParams,
  toHex,
} from '@app/crypto';
import {
  PARTIAL_KEY_REQUEST_TAG,
  partialKeyRequestMessage,
  type PartialKeyResponse,
  type PartialKeySubject,
} from '@app/ledger';

/**
 * What a meter (or a receiver) does with its own keys: make x and Y = x*P1 on the device, prove it
 * holds x (for registration), and fetch, open and check its partial private key from the control
 * center. x never leaves the device; h arrives sealed to Y.
 */
export interface HolderIdentity {
  id: string;
  keys: KeyPair;
  /** Y (hex), for the registration body. */
  publicKey: string;
  /** BLS proof of possession of x (hex), for the registration body. */
  possession: string;
}

export function createHolderIdentity(id: string, keys: KeyPair = generateKeyPair()): HolderIdentity {
  return { id, keys, publicKey: toHex(keys.publicKey), possession: toHex(blsProvePossession(keys.secret)) };
}

export class PartialKeyFetchError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'PartialKeyFetchError';
  }
}

/** Asks the CC for the holder's partial key, opens it, and checks h*P1 == alpha + eta*Ypub1. */
export async function fetchPartialKey(options: {
  ccUrl: string;
  chainId: string;
  params: SystemParams;
  subject: PartialKeySubject;
  holder: HolderIdentity;
  now?: number;
}): Promise<PartialPrivateKey> {
  const { ccUrl, chainId, params, subject, holder } = options;
  const timestamp = options.now ?? Date.now();
  const signature = blsSign(
    holder.keys.secret,
    { tag: PARTIAL_KEY_REQUEST_TAG, chainId },
    partialKeyRequestMessage(subject, holder.id, timestamp),
  );
  const response = await fetch(`${ccUrl.replace(/\/$/, '')}/partial-keys/${encodeURIComponent(holder.id)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ subject, timestamp, signature: toHex(signature) }),
  });
  // A proxy or load balancer in front of the CC may answer with a page, not JSON: a clear error then.
  const text = await response.text();
  let body: PartialKeyResponse & { code?: string; message?: string };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    throw new PartialKeyFetchError(
      response.status,
      response.ok ? 'PARTIAL_KEY.BAD_ANSWER' : `HTTP.${response.status}`,
      `the control center answered ${response.status} without JSON: ${text.slice(0, 120)}`,
    );
  }
  if (!response.ok) {
    throw new PartialKeyFetchError(
      response.status,
      body.code ?? `HTTP.${response.status}`,
      body.message ?? 'the control center refused',
    );
  }
  const partial = openPartialKey(
    {
      id: holder.id,
      alpha: fromHex(body.alpha, 'alpha', 48),
      ephemeral: fromHex(body.ephemeral, 'ephemeral', 48),
      sealed: fromHex(body.sealed, 'sealed'),
    },
    holder.keys.secret,
  );
  checkPartialKey(params, partial);
  return partial;
}

/** The meter's full private key (x_S, h) once it has its partial key. */
export function assembleMeterKey(
  params: SystemParams,
  secret: SecretScalar,
  partial: PartialPrivateKey,
): MeterPrivateKey {
  return MeterPrivateKey.assemble(params, secret, partial);
}

/**
 * Waits until the node shows the identity in `status` in its final state: registrations and partial
 * keys take effect when their block is final (a few slots).
 */
export async function waitForIdentity(
  nodeUrl: string,
  subject: PartialKeySubject,
  id: string,
  status: 'registered' | 'active',
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  for (;;) {
    const response = await fetch(`${nodeUrl.replace(/\/$/, '')}/${subject}s/${encodeURIComponent(id)}`).catch(
      () => undefined,
    );
    if (response?.ok) {
      const body = (await response.json()) as { status?: string };
      if (body.status === status || (status === 'registered' && body.status === 'active')) {
        return;
      }
      if (body.status === 'revoked') {
        throw new Error(`${subject} ${id} is revoked`);
      }
    }
    if (Date.now() > deadline) {
      throw new Error(`${subject} ${id} did not become ${status} within ${options.timeoutMs ?? 60_000} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 200));
  }
}
