import type { SecretScalar } from '@app/crypto';

import { issueIdentityToken, type TokenSubjectKind } from './identity-token';

const LIFETIME_MS = 15 * 60 * 1000;
const RENEW_BEFORE_MS = 2 * 60 * 1000;

/** Tokens for one's own calls: one signature per quarter hour, renewed before it runs out. */
export class IdentityTokenSource {
  private token: { value: string; expiresAt: number } | undefined;

  constructor(
    private readonly key: SecretScalar,
    private readonly chainId: string,
    private readonly subject: { kind: TokenSubjectKind; id: string },
  ) {}

  /** The value of an Authorization header. */
  authorization(now = Date.now()): string {
    if (!this.token || this.token.expiresAt - now < RENEW_BEFORE_MS) {
      this.token = {
        value: issueIdentityToken(this.key, this.chainId, this.subject, now, LIFETIME_MS),
        expiresAt: now + LIFETIME_MS,
      };
    }
    return `Bearer ${this.token.value}`;
  }
}
