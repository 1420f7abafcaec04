import {
  blsSign,
  blsVerify,
  type BlsPublicKey,
  fromBase64Url,
  type SecretScalar,
  toBase64Url,
} from '@app/crypto';

import { AuthError } from './auth-error';

/**
 * Identity tokens: a member organisation (or an accounting node, calling its peers) proves who it is
 * by signing a short claim with the key the genesis gives it (the key that signs its transactions or
 * its messages). Nothing secret is stored on any node or receiver, a token works at every service of
 * the chain, and it expires on its own.
 *
 * Wire form: `<prefix>.<base64url(claims JSON)>.<base64url(BLS signature)>`, prefix `cbsg1` for an
 * organisation and `cbsgnode1` for a node, the signature over the claims' bytes in the domain
 * (CBSG-AUTH-TOKEN-V1 or CBSG-NODE-TOKEN-V1, chain id): one kind's token is worthless as the other.
 */
export type TokenSubjectKind = 'organisation' | 'node';

const TOKEN_FORMS: Record<TokenSubjectKind, { prefix: string; tag: string }> = {
  organisation: { prefix: 'cbsg1', tag: 'CBSG-AUTH-TOKEN-V1' },
  node: { prefix: 'cbsgnode1', tag: 'CBSG-NODE-TOKEN-V1' },
};
/** Longest lifetime a service accepts: a stolen token is worth an hour at most. */
export const MAX_TOKEN_LIFETIME_MS = 60 * 60 * 1000;
/** Clocks of the consortium may disagree by this much. */
export const TOKEN_CLOCK_SKEW_MS = 30 * 1000;

export interface TokenClaims {
  /** The organisation's or node's id in the genesis. */
  sub: string;
  /** Issued at and expires at, milliseconds since the epoch. */
  iat: number;
  exp: number;
}

export function issueIdentityToken(
  key: SecretScalar,
  chainId: string,
  subject: { kind: TokenSubjectKind; id: string },
  now = Date.now(),
  lifetimeMs = 15 * 60 * 1000,
): string {
  if (lifetimeMs <= 0 || lifetimeMs > MAX_TOKEN_LIFETIME_MS) {
    throw new RangeError(`a token lives between 1 ms and ${MAX_TOKEN_LIFETIME_MS} ms`);
  }
  const form = TOKEN_FORMS[subject.kind];
  const claims: TokenClaims = { sub: subject.id, iat: now, exp: now + lifetimeMs };
  const bytes = new TextEncoder().encode(JSON.stringify(claims));
  const signature = blsSign(key, { tag: form.tag, chainId }, bytes);
  return `${form.prefix}.${toBase64Url(bytes)}.${toBase64Url(signature)}`;
}

/** Which kind of subject a credential claims to be, by its prefix; undefined if it is no identity token. */
export function tokenKindOf(token: string): TokenSubjectKind | undefined {
  const prefix = token.slice(0, token.indexOf('.'));
  return (Object.keys(TOKEN_FORMS) as TokenSubjectKind[]).find((k) => TOKEN_FORMS[k].prefix === prefix);
}

/**
 * Checks a token of `kind` and returns its claims: well formed, signed by the subject's genesis key
 * (`keyOf` returns undefined for one the chain does not know), inside its lifetime.
 */
export function verifyIdentityToken(
  token: string,
  kind: TokenSubjectKind,
  chainId: string,
  keyOf: (id: string) => BlsPublicKey | undefined,
  now = Date.now(),
): TokenClaims {
  const form = TOKEN_FORMS[kind];
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== form.prefix) {
    throw new AuthError('AUTH.MALFORMED', `the token is not a ${form.prefix} ${kind} token`);
  }
  let bytes: Uint8Array;
  let signature: Uint8Array;
  let claims: TokenClaims;
  try {
    bytes = fromBase64Url(parts[1]!, 'token claims');
    signature = fromBase64Url(parts[2]!, 'token signature');
    claims = parseClaims(JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)));
  } catch (error) {
    throw new AuthError('AUTH.MALFORMED', `the token does not decode: ${(error as Error).message}`);
  }
  const key = keyOf(claims.sub);
  if (!key) {
    throw new AuthError(
      kind === 'node' ? 'AUTH.UNKNOWN_NODE' : 'AUTH.UNKNOWN_ORGANISATION',
      `${claims.sub} is not a ${kind === 'node' ? 'node' : 'member organisation'} of this chain`,
    );
  }
  if (claims.exp - claims.iat > MAX_TOKEN_LIFETIME_MS || claims.exp <= claims.iat) {
    throw new AuthError(
      'AUTH.BAD_LIFETIME',
      `a token may live at most ${MAX_TOKEN_LIFETIME_MS / 60_000} minutes`,
    );
  }
  if (claims.iat > now + TOKEN_CLOCK_SKEW_MS) {
    throw new AuthError('AUTH.NOT_YET_VALID', 'the token was issued in the future');
  }
  if (now >= claims.exp + TOKEN_CLOCK_SKEW_MS) {
    throw new AuthError('AUTH.EXPIRED', `the token expired at ${new Date(claims.exp).toISOString()}`);
  }
  if (!blsVerify(key, { tag: form.tag, chainId }, bytes, signature)) {
    throw new AuthError('AUTH.BAD_SIGNATURE', `the token is not signed with ${claims.sub}'s registered key`);
  }
  return claims;
}

function parseClaims(value: unknown): TokenClaims {
  const v = value as Partial<Record<keyof TokenClaims, unknown>> | null;
  if (
    !v ||
    typeof v.sub !== 'string' ||
    v.sub.length === 0 ||
    v.sub.length > 128 ||
    !Number.isSafeInteger(v.iat) ||
    !Number.isSafeInteger(v.exp)
  ) {
    throw new Error('claims need sub (string), iat and exp (integers)');
  }
  return { sub: v.sub, iat: v.iat as number, exp: v.exp as number };
}
