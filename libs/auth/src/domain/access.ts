import type { OrganisationRole } from '@app/ledger';

import { AuthError } from './auth-error';

/** Who is calling, once proven. */
export type Principal =
  | { kind: 'organisation'; id: string; roles: readonly OrganisationRole[] }
  | { kind: 'admin'; id: string; name: string }
  | { kind: 'node'; id: string };

/**
 * Who may call an endpoint: 'public' (no credentials: meters, peers and probes, whose messages carry
 * their own signatures), 'admin', 'organisation' (any member), 'self' (the organisation that runs
 * this service: a receiver's own data), 'node' (a peer node of the chain), or an organisation role.
 */
export type Audience = 'public' | 'admin' | 'organisation' | 'self' | 'node' | OrganisationRole;

export function principalLabel(principal: Principal): string {
  return `${principal.kind} ${principal.id}`;
}

/** Throws AUTH.FORBIDDEN unless `principal` is one of `audiences`. */
export function checkAudience(
  principal: Principal,
  audiences: readonly Audience[],
  what: string,
  serviceOwner?: string,
): void {
  const allowed = audiences.some((audience) => {
    switch (audience) {
      case 'public':
        return true;
      case 'admin':
        return principal.kind === 'admin';
      case 'organisation':
        return principal.kind === 'organisation';
      case 'node':
        return principal.kind === 'node';
      case 'self':
        return principal.kind === 'organisation' && principal.id === serviceOwner;
      default:
        return principal.kind === 'organisation' && principal.roles.includes(audience);
    }
  });
  if (!allowed) {
    throw new AuthError(
      'AUTH.FORBIDDEN',
      `${principalLabel(principal)} may not call ${what}: it is open to ${audiences
        .map((a) => (a === 'self' ? `${serviceOwner ?? 'the organisation running this service'} only` : a))
        .join(', ')}`,
    );
  }
}
