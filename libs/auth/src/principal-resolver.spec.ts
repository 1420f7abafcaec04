import { blsGenerateKey, initCrypto, toHex } from '@app/crypto';

import { AuthError } from './domain/auth-error';
import { issueIdentityToken, TOKEN_CLOCK_SKEW_MS } from './domain/identity-token';
import { PrincipalResolver } from './principal-resolver';

const CHAIN = 'cbsg-resolver-test';
const NOW = 1_800_000_000_000;
const LIFETIME_MS = 60_000;

async function codeOf(work: Promise<unknown>): Promise<string | undefined> {
  try {
    await work;
    return undefined;
  } catch (error) {
    if (error instanceof AuthError) {
      return error.code;
    }
    throw error;
  }
}

describe('PrincipalResolver and the tokens it has verified before', () => {
  let operator: ReturnType<typeof blsGenerateKey>;
  let resolver: PrincipalResolver;
  let token: string;

  beforeAll(async () => {
    await initCrypto();
    operator = blsGenerateKey();
    resolver = new PrincipalResolver(() => ({
      chainId: CHAIN,
      organisations: [
        { id: 'grid-operator', roles: ['grid-operator'], publicKey: toHex(operator.publicKey) },
      ],
      nodes: [],
    }));
    token = `Bearer ${issueIdentityToken(operator.secret, CHAIN, { kind: 'organisation', id: 'grid-operator' }, NOW, LIFETIME_MS)}`;
  });

  it('given a token verified once, when it comes again within its lifetime, should give the same principal', async () => {
    const first = await resolver.resolve(token, NOW);
    expect(first).toEqual({ kind: 'organisation', id: 'grid-operator', roles: ['grid-operator'] });
    expect(await resolver.resolve(token, NOW + LIFETIME_MS - 1)).toEqual(first);
  });

  it('given a remembered token, when it comes after its expiry (skew included) or before its issue time, should refuse it as a fresh check would', async () => {
    await resolver.resolve(token, NOW);
    expect(await codeOf(resolver.resolve(token, NOW + LIFETIME_MS + TOKEN_CLOCK_SKEW_MS))).toBe(
      'AUTH.EXPIRED',
    );
    await resolver.resolve(token, NOW);
    expect(await codeOf(resolver.resolve(token, NOW - TOKEN_CLOCK_SKEW_MS - 1))).toBe('AUTH.NOT_YET_VALID');
  });

  it('given a remembered token, when its signature is altered, should check the altered one in full and refuse it', async () => {
    await resolver.resolve(token, NOW);
    const last = token.at(-2) === 'A' ? 'B' : 'A';
    const altered = `${token.slice(0, -2)}${last}${token.at(-1)}`;
    expect(await codeOf(resolver.resolve(altered, NOW))).toMatch(/^AUTH\.(BAD_SIGNATURE|MALFORMED)$/);
  });
  it('given a token refused for its signature, when it comes again, should refuse it as remembered, without a second check, until the memory expires', async () => {
    const stranger = blsGenerateKey();
    const forged = `Bearer ${issueIdentityToken(stranger.secret, CHAIN, { kind: 'organisation', id: 'grid-operator' }, NOW, LIFETIME_MS)}`;
    const refusal = async (at: number) => {
      try {
        await resolver.resolve(forged, at);
      } catch (error) {
        return error;
      }
      throw new Error('the forged token was accepted');
    };
    const first = await refusal(NOW);
    expect(first).toMatchObject({ code: 'AUTH.BAD_SIGNATURE' });
    // The very same error: no signature check made a new one.
    expect(await refusal(NOW + 1_000)).toBe(first);
    const later = await refusal(NOW + 61_000);
    expect(later).toMatchObject({ code: 'AUTH.BAD_SIGNATURE' });
    expect(later).not.toBe(first);
  });
});
