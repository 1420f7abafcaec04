import type { Pool } from 'pg';

import { BlsPublicKey, fromHex, LruCache } from '@app/crypto';
import type { OrganisationRole } from '@app/ledger';

import type { Principal } from './domain/access';
import { adminSecretMatches, isAdminKey, parseAdminKey } from './domain/admin-key';
import { AuthError } from './domain/auth-error';
import {
  TOKEN_CLOCK_SKEW_MS,
  type TokenClaims,
  tokenKindOf,
  verifyIdentityToken,
} from './domain/identity-token';

export interface MemberOrganisation {
  id: string;
  roles: readonly OrganisationRole[];
  /** Its registered signing key (48-byte G1), hex. */
  publicKey: string;
}

export interface ChainNode {
  id: string;
  /** Its genesis key (48-byte G1), hex. */
  publicKey: string;
}

export interface ChainMembers {
  chainId: string;
  organisations: readonly MemberOrganisation[];
  nodes: readonly ChainNode[];
}

interface Members {
  chainId: string;
  organisations: Map<string, { roles: readonly OrganisationRole[]; key: BlsPublicKey }>;
  nodes: Map<string, BlsPublicKey>;
}

interface StoredAdminKey {
  name: string;
  secretHash: Buffer;
  revoked: boolean;
  readAt: number;
}

/**
 * How long a looked-up admin key is trusted before it is read again (a revocation takes this long);
 * also how often a long-lived connection (a GraphQL subscription) checks its admin key again.
 */
export const ADMIN_KEY_CACHE_MS = 5_000;

/** Identity tokens whose signature has been checked, remembered so that a client's next calls skip the pairings. */
const VERIFIED_TOKEN_CACHE_SIZE = 10_000;

/**
 * Tokens whose signature was found bad, remembered briefly so that the same forged token sent again
 * costs a lookup, not two pairings. A bad signature stays bad (members' keys come from the genesis);
 * the bound and the short life only keep the memory small.
 */
const REFUSED_TOKEN_CACHE_SIZE = 1_000;
const REFUSED_TOKEN_TTL_MS = 60_000;

interface VerifiedToken {
  principal: Principal;
  /** The instants (ms) between which the token is accepted, clock skew included, as verifyIdentityToken decides. */
  acceptedFrom: number;
  acceptedUntil: number;
}

export interface ResolveOptions {
  /** Read an admin key's row again, past the cache. */
  fresh?: boolean;
  /**
   * Called before any check a token verified earlier would not skip (a signature, an admin key's
   * row, a remembered refusal); what it throws is thrown instead.
   */
  beforeCheck?: () => void;
}

/** Who a credential proves, and until when. */
export interface ResolvedCredential {
  principal: Principal;
  /**
   * The instant (ms) from which the credential is refused: a token's expiry plus the clock skew.
   * Absent for an admin key, which holds until it is revoked (check it again to know).
   */
  acceptedUntil?: number;
}

/**
 * Turns an Authorization header into a Principal: an organisation's or a node's token checked against
 * the keys the genesis gives them (the genesis fixes both), or an admin key checked against its hash.
 */
export class PrincipalResolver {
  private members: Members | undefined;
  private readonly adminKeys = new Map<string, StoredAdminKey>();
  /**
   * Keyed by the whole token, signature included: the same bytes always verify the same way, since
   * members and their keys come from the genesis and never change while the process runs.
   */
  private readonly verifiedTokens = new Map<string, VerifiedToken>();
  /** Keyed by the whole token too; the instant until which it is refused without a check. */
  private readonly refusedTokens = new LruCache<string, { error: AuthError; until: number }>(
    REFUSED_TOKEN_CACHE_SIZE,
  );

  constructor(
    /** The chain's members, read on first use (services load their genesis during start-up). */
    private readonly genesis: () => ChainMembers,
    /** Where admin keys live; none: this service takes identity tokens only. */
    private readonly adminKeyPool?: Pool,
  ) {}

  async resolve(authorization: string, now = Date.now(), options: ResolveOptions = {}): Promise<Principal> {
    return (await this.resolveCredential(authorization, now, options)).principal;
  }

  /**
   * As resolve, saying until when the credential holds: what a connection that outlives one request
   * needs to end itself in time.
   */
  async resolveCredential(
    authorization: string,
    now = Date.now(),
    { fresh = false, beforeCheck }: ResolveOptions = {},
  ): Promise<ResolvedCredential> {
    const match = /^Bearer ([\x21-\x7e]{1,4096})$/.exec(authorization);
    if (!match) {
      throw new AuthError('AUTH.MALFORMED', 'the Authorization header must be "Bearer <token or admin key>"');
    }
    const credential = match[1]!;
    if (isAdminKey(credential)) {
      beforeCheck?.();
      return { principal: await this.admin(credential, now, fresh) };
    }
    const known = this.verifiedTokens.get(credential);
    if (known && now >= known.acceptedFrom && now < known.acceptedUntil) {
      return { principal: known.principal, acceptedUntil: known.acceptedUntil };
    }
    beforeCheck?.();
    // Least recently refused first out: a token sent again moves to the end (LruCache.get).
    const refused = this.refusedTokens.get(credential);
    if (refused && now < refused.until) {
      throw refused.error;
    }
    // Unknown, or outside its lifetime: verified in full, which refuses it with the reason.
    this.verifiedTokens.delete(credential);
    let verified: { principal: Principal; claims: TokenClaims };
    try {
      verified = this.verifyToken(credential, now);
    } catch (error) {
      if (error instanceof AuthError && error.code === 'AUTH.BAD_SIGNATURE') {
        this.refusedTokens.set(credential, { error, until: now + REFUSED_TOKEN_TTL_MS });
      }
      throw error;
    }
    this.remember(credential, verified);
    return {
      principal: verified.principal,
      acceptedUntil: verified.claims.exp + TOKEN_CLOCK_SKEW_MS,
    };
  }

  /** A BLS signature check (two pairings, a few milliseconds): the expensive part of a request. */
  private verifyToken(credential: string, now: number): { principal: Principal; claims: TokenClaims } {
    const members = this.membersNow();
    if (tokenKindOf(credential) === 'node') {
      const claims = verifyIdentityToken(
        credential,
        'node',
        members.chainId,
        (id) => members.nodes.get(id),
        now,
      );
      return { principal: { kind: 'node', id: claims.sub }, claims };
    }
    const claims = verifyIdentityToken(
      credential,
      'organisation',
      members.chainId,
      (id) => members.organisations.get(id)?.key,
      now,
    );
    return {
      principal: {
        kind: 'organisation',
        id: claims.sub,
        roles: members.organisations.get(claims.sub)!.roles,
      },
      claims,
    };
  }

  private remember(
    credential: string,
    { principal, claims }: { principal: Principal; claims: TokenClaims },
  ): void {
    if (this.verifiedTokens.size >= VERIFIED_TOKEN_CACHE_SIZE) {
      // The oldest entry goes first (a Map keeps insertion order); clients renew tokens, so old ones
      // are the least likely to come back.
      this.verifiedTokens.delete(this.verifiedTokens.keys().next().value!);
    }
    this.verifiedTokens.set(credential, {
      principal,
      acceptedFrom: claims.iat - TOKEN_CLOCK_SKEW_MS,
      acceptedUntil: claims.exp + TOKEN_CLOCK_SKEW_MS,
    });
  }

  private membersNow(): Members {
    if (!this.members) {
      const genesis = this.genesis();
      // Checked with their proofs of possession when the genesis document was loaded.
      const keyOf = (hex: string, what: string) => BlsPublicKey.fromTrustedBytes(fromHex(hex, what, 48));
      this.members = {
        chainId: genesis.chainId,
        organisations: new Map(
          genesis.organisations.map((m) => [
            m.id,
            { roles: m.roles, key: keyOf(m.publicKey, `${m.id}'s key`) },
          ]),
        ),
        nodes: new Map(genesis.nodes.map((n) => [n.id, keyOf(n.publicKey, `${n.id}'s key`)])),
      };
    }
    return this.members;
  }

  private async admin(credential: string, now: number, fresh: boolean): Promise<Principal> {
    if (!this.adminKeyPool) {
      throw new AuthError(
        'AUTH.ADMIN_KEYS_NOT_ACCEPTED',
        'this service takes organisation tokens only, not admin keys',
      );
    }
    const { id, secret } = parseAdminKey(credential);
    let stored = this.adminKeys.get(id);
    if (!stored || fresh || now - stored.readAt > ADMIN_KEY_CACHE_MS) {
      const { rows } = await this.adminKeyPool.query<{
        name: string;
        secret_hash: Buffer;
        revoked_at: Date | null;
      }>('SELECT name, secret_hash, revoked_at FROM admin_api_keys WHERE id = $1', [id]);
      const row = rows[0];
      stored = row
        ? { name: row.name, secretHash: row.secret_hash, revoked: row.revoked_at !== null, readAt: now }
        : undefined;
      if (stored) {
        this.adminKeys.set(id, stored);
      } else {
        this.adminKeys.delete(id);
      }
    }
    if (!stored || stored.revoked || !adminSecretMatches(secret, stored.secretHash)) {
      throw new AuthError('AUTH.BAD_ADMIN_KEY', 'the admin key is unknown, revoked, or wrong');
    }
    return { kind: 'admin', id, name: stored.name };
  }
}
