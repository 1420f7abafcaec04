import { blsGenerateKey, BlsPublicKey, initCrypto } from '@app/crypto';

import { checkAudience, type Principal } from './access';
import { adminSecretMatches, generateAdminKey, hashAdminSecret, parseAdminKey } from './admin-key';
import { AuthError } from './auth-error';
import {
  issueIdentityToken,
  MAX_TOKEN_LIFETIME_MS,
  TOKEN_CLOCK_SKEW_MS,
  verifyIdentityToken,
} from './identity-token';

const CHAIN = 'cbsg-auth-test';
const NOW = 1_800_000_000_000;
const org = (id: string) => ({ kind: 'organisation' as const, id });

function codeOf(work: () => unknown): string | undefined {
  try {
    work();
    return undefined;
  } catch (error) {
    if (error instanceof AuthError) {
      return error.code;
    }
    throw error;
  }
}

describe('organisation tokens', () => {
  let operator: ReturnType<typeof blsGenerateKey>;
  let other: ReturnType<typeof blsGenerateKey>;
  let keys: Map<string, BlsPublicKey>;
  const keyOf = (id: string) => keys.get(id);

  beforeAll(async () => {
    await initCrypto();
    operator = blsGenerateKey();
    other = blsGenerateKey();
    keys = new Map([
      ['grid-operator', BlsPublicKey.fromBytes(operator.publicKey)],
      ['control-center', BlsPublicKey.fromBytes(other.publicKey)],
    ]);
  });

  it('given a token signed with the organisation key, when verified, should give its claims', () => {
    const token = issueIdentityToken(operator.secret, CHAIN, org('grid-operator'), NOW);
    expect(token).toMatch(/^cbsg1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    expect(verifyIdentityToken(token, 'organisation', CHAIN, keyOf, NOW + 1000)).toMatchObject({
      sub: 'grid-operator',
      iat: NOW,
    });
  });

  it('given a token signed with another key, or claiming another organisation, should refuse it as badly signed', () => {
    const forged = issueIdentityToken(other.secret, CHAIN, org('grid-operator'), NOW);
    expect(codeOf(() => verifyIdentityToken(forged, 'organisation', CHAIN, keyOf, NOW))).toBe(
      'AUTH.BAD_SIGNATURE',
    );
    // The claims of a real token, re-encoded with another organisation, under the original signature.
    const [prefix, , signature] = issueIdentityToken(operator.secret, CHAIN, org('grid-operator'), NOW).split(
      '.',
    );
    const claims = Buffer.from(
      JSON.stringify({ sub: 'control-center', iat: NOW, exp: NOW + 60_000 }),
    ).toString('base64url');
    expect(
      codeOf(() =>
        verifyIdentityToken(`${prefix}.${claims}.${signature}`, 'organisation', CHAIN, keyOf, NOW),
      ),
    ).toBe('AUTH.BAD_SIGNATURE');
  });

  it("given a node's token offered as an organisation's (same id, same key), should refuse it", () => {
    const nodeToken = issueIdentityToken(operator.secret, CHAIN, { kind: 'node', id: 'grid-operator' }, NOW);
    expect(codeOf(() => verifyIdentityToken(nodeToken, 'organisation', CHAIN, keyOf, NOW))).toBe(
      'AUTH.MALFORMED',
    );
    const asOrganisation = nodeToken.replace(/^cbsgnode1\./, 'cbsg1.');
    expect(codeOf(() => verifyIdentityToken(asOrganisation, 'organisation', CHAIN, keyOf, NOW))).toBe(
      'AUTH.BAD_SIGNATURE',
    );
    expect(verifyIdentityToken(nodeToken, 'node', CHAIN, keyOf, NOW).sub).toBe('grid-operator');
  });

  it('given a token of another chain, should refuse it', () => {
    const token = issueIdentityToken(operator.secret, 'another-chain', org('grid-operator'), NOW);
    expect(codeOf(() => verifyIdentityToken(token, 'organisation', CHAIN, keyOf, NOW))).toBe(
      'AUTH.BAD_SIGNATURE',
    );
  });

  it('given tokens outside their lifetime, should refuse each with its reason', () => {
    const token = issueIdentityToken(operator.secret, CHAIN, org('grid-operator'), NOW, 60_000);
    expect(
      codeOf(() =>
        verifyIdentityToken(token, 'organisation', CHAIN, keyOf, NOW + 60_000 + TOKEN_CLOCK_SKEW_MS),
      ),
    ).toBe('AUTH.EXPIRED');
    expect(
      codeOf(() => verifyIdentityToken(token, 'organisation', CHAIN, keyOf, NOW - TOKEN_CLOCK_SKEW_MS - 1)),
    ).toBe('AUTH.NOT_YET_VALID');
    expect(() =>
      issueIdentityToken(operator.secret, CHAIN, org('grid-operator'), NOW, MAX_TOKEN_LIFETIME_MS + 1),
    ).toThrow(RangeError);
  });

  it('given garbage or an unknown organisation, should refuse it as malformed or unknown', () => {
    for (const bad of [
      '',
      'cbsg1',
      'cbsg1.a.b',
      'jwt.eyJ9.sig',
      'cbsg1.!!.!!',
      `cbsg1.${Buffer.from('[]').toString('base64url')}.AA`,
    ]) {
      expect(codeOf(() => verifyIdentityToken(bad, 'organisation', CHAIN, keyOf, NOW))).toBe(
        'AUTH.MALFORMED',
      );
    }
    const stranger = issueIdentityToken(operator.secret, CHAIN, org('stranger'), NOW);
    expect(codeOf(() => verifyIdentityToken(stranger, 'organisation', CHAIN, keyOf, NOW))).toBe(
      'AUTH.UNKNOWN_ORGANISATION',
    );
  });
});

describe('admin keys', () => {
  it('given a new key, should parse back to its id and match only its own secret', () => {
    const { id, key, secretHash } = generateAdminKey();
    const parsed = parseAdminKey(key);
    expect(parsed.id).toBe(id);
    expect(adminSecretMatches(parsed.secret, secretHash)).toBe(true);
    expect(adminSecretMatches(parseAdminKey(generateAdminKey().key).secret, secretHash)).toBe(false);
    expect(hashAdminSecret(parsed.secret).equals(secretHash)).toBe(true);
    expect(key).not.toContain(secretHash.toString('hex'));
  });

  it('given malformed keys, should refuse them', () => {
    for (const bad of ['cbsg_admin_', 'cbsg_admin_zz_abc', `cbsg_admin_${'0'.repeat(12)}_short`]) {
      expect(codeOf(() => parseAdminKey(bad))).toBe('AUTH.MALFORMED');
    }
  });
});

describe('audiences', () => {
  const operator: Principal = {
    kind: 'organisation',
    id: 'grid-operator',
    roles: ['grid-operator', 'receiver'],
  };
  const admin: Principal = { kind: 'admin', id: 'abc', name: 'ops' };

  it.each([
    [operator, ['organisation'], true],
    [operator, ['grid-operator'], true],
    [operator, ['control-center'], false],
    [operator, ['admin'], false],
    [operator, ['self'], false],
    [admin, ['admin'], true],
    [admin, ['organisation', 'self'], false],
  ] as const)(
    'given %j calling an endpoint open to %j, should allow it: %s',
    (principal, audiences, allowed) => {
      const code = codeOf(() => checkAudience(principal, audiences, 'GET /x', 'control-center'));
      expect(code).toBe(allowed ? undefined : 'AUTH.FORBIDDEN');
    },
  );

  it("given the service's own organisation, should let it call 'self' endpoints and name the owner when it refuses", () => {
    expect(codeOf(() => checkAudience(operator, ['self'], 'GET /readings', 'grid-operator'))).toBeUndefined();
    expect(() => checkAudience(operator, ['self'], 'GET /readings', 'control-center')).toThrow(
      'grid-operator may not call GET /readings: it is open to control-center only',
    );
  });
});
