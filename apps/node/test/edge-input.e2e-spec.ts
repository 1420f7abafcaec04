import { ADMIN, ConsortiumHarness, ORGANISATIONS } from '../../../test/support/consortium-harness';
import { expectInvalidParameter } from '../../../test/support/invalid-parameter';

describe('input at the edge that Postgres cannot hold', () => {
  let harness: ConsortiumHarness;

  beforeAll(async () => {
    harness = await ConsortiumHarness.start();
  });

  afterAll(async () => {
    await harness?.stop();
  });

  it('given a NUL or another control character in an id or a search, should answer 400 naming the parameter, never 500', async () => {
    const cases: Array<[string, string | null, string]> = [
      ['/meters/%00', null, 'id'],
      ['/meters/meter-a%00b', null, 'id'],
      ['/meters/meter%0Aa', ORGANISATIONS.gridOperator, 'id'],
      ['/receivers/%00', null, 'id'],
      ['/receivers/operator%00billing', ORGANISATIONS.gridOperator, 'id'],
      ['/admin/meters?q=%00', ADMIN, 'q'],
      ['/admin/meters?q=meter%00', ADMIN, 'q'],
      ['/admin/meters?q=%1B%5B2J', ADMIN, 'q'],
    ];
    for (const [pathname, as, parameter] of cases) {
      await expectInvalidParameter(harness, pathname, parameter, as);
    }
    // Ordinary ids and searches still answer as before.
    expect((await harness.get('/meters/no-such-meter', null)).status).toBe(404);
    expect((await harness.get('/receivers/no-such-receiver', null)).status).toBe(404);
    expect((await harness.get('/admin/meters?q=meter', ADMIN)).status).toBe(200);
  });

  it('given a NUL in a GraphQL string argument that reaches SQL, should answer BAD_USER_INPUT naming it, not an internal error', async () => {
    const response = await fetch(`${harness.nodeUrl}/graphql`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: harness.authorization(ORGANISATIONS.gridOperator),
      },
      body: JSON.stringify({
        query: 'query ($producer: String) { blocks(first: 5, producer: $producer) { nodes { height } } }',
        variables: { producer: 'delegate\u00001' },
      }),
    });
    const body = (await response.json()) as {
      errors?: Array<{ extensions?: { code?: string; argument?: string } }>;
    };
    expect(body.errors?.[0]).toMatchObject({
      extensions: { code: 'BAD_USER_INPUT', argument: 'producer' },
    });
  });
});
