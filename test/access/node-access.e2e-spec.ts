import { readFile } from 'node:fs/promises';
import path from 'node:path';

import { type EndpointAccess, endpointInventory, issueIdentityToken, renderAccessTable } from '@app/auth';

import { ConsortiumHarness, ORGANISATIONS, PEER_NODE } from '../support/consortium-harness';

/** A concrete URL for an endpoint's path (the guard answers before any parameter is looked at). */
function concrete(endpoint: EndpointAccess): string {
  return endpoint.path.replace(/:([A-Za-z]+)/g, (_, name: string) =>
    /hash/i.test(name) ? 'ab'.repeat(32) : /height|round|slot/i.test(name) ? '1' : 'x',
  );
}

/** Markdown table rows without the padding and rules a formatter adds. */
export function normaliseTables(markdown: string): string {
  return markdown
    .split('\n')
    .filter((line) => line.startsWith('|') && !/^\|[\s:|-]+\|$/.test(line))
    .map((line) =>
      line
        .split('|')
        .map((cell) => cell.trim())
        .join('|'),
    )
    .join('\n');
}

describe('who may call what on a node', () => {
  let harness: ConsortiumHarness;
  let endpoints: EndpointAccess[];

  beforeAll(async () => {
    harness = await ConsortiumHarness.start();
    endpoints = endpointInventory(harness.node);
  });

  afterAll(async () => {
    await harness.stop();
  });

  async function call(
    endpoint: EndpointAccess,
    authorization?: string,
  ): Promise<{ status: number; code?: string }> {
    const response = await fetch(`${harness.nodeUrl}${concrete(endpoint)}`, {
      method: endpoint.method,
      headers: {
        ...(authorization ? { authorization } : {}),
        ...(endpoint.method === 'GET' ? {} : { 'content-type': 'application/json' }),
      },
      ...(endpoint.method === 'GET' ? {} : { body: '{}' }),
    });
    const body = (await response.json().catch(() => ({}))) as { code?: string };
    return { status: response.status, ...(body.code ? { code: body.code } : {}) };
  }

  it('given the endpoint inventory, docs/access.md should list every endpoint with its audiences', async () => {
    if (process.env.PRINT_ACCESS_TABLE) {
      process.stdout.write(`${renderAccessTable(endpoints)}\n`);
    }
    const doc = await readFile(path.join(__dirname, '../../docs/access.md'), 'utf8');
    expect(endpoints.length).toBeGreaterThan(20);
    // Regenerate with the table printed by a failing run if an endpoint was added or changed.
    expect(normaliseTables(doc)).toContain(normaliseTables(renderAccessTable(endpoints)));
  });

  it('given no credentials or a forged token, every endpoint that is not public should answer 401 and name why', async () => {
    const forged = `Bearer ${issueIdentityToken(
      harness.organisationKey(ORGANISATIONS.gridOperator),
      harness.chainId,
      {
        kind: 'organisation',
        id: ORGANISATIONS.controlCenter,
      },
    )}`;
    for (const endpoint of endpoints.filter((e) => !e.audiences.includes('public'))) {
      expect({ endpoint, ...(await call(endpoint)) }).toMatchObject({ status: 401, code: 'AUTH.MISSING' });
      expect({ endpoint, ...(await call(endpoint, forged)) }).toMatchObject({
        status: 401,
        code: 'AUTH.BAD_SIGNATURE',
      });
      expect({
        endpoint,
        ...(await call(endpoint, 'Bearer cbsg_admin_000000000000_' + 'A'.repeat(43))),
      }).toMatchObject({
        status: 401,
        code: 'AUTH.BAD_ADMIN_KEY',
      });
    }
  });

  it('given the wrong role (an organisation on admin and peer endpoints, a node on member endpoints), every such endpoint should answer 403', async () => {
    const member = harness.authorization(ORGANISATIONS.gridOperator);
    const peer = `Bearer ${issueIdentityToken(harness.consortium.nodeKeys.get(PEER_NODE)!, harness.chainId, {
      kind: 'node',
      id: PEER_NODE,
    })}`;
    const admin = await harness.adminAuthorization();
    let refusals = 0;
    for (const endpoint of endpoints.filter((e) => !e.audiences.includes('public'))) {
      const wrong = [
        ...(endpoint.audiences.includes('organisation') || endpoint.audiences.includes('grid-operator')
          ? []
          : [member]),
        ...(endpoint.audiences.includes('node') ? [] : [peer]),
        ...(endpoint.audiences.includes('admin') ? [] : [admin]),
      ];
      for (const authorization of wrong) {
        expect({ endpoint, ...(await call(endpoint, authorization)) }).toMatchObject({
          status: 403,
          code: 'AUTH.FORBIDDEN',
        });
        refusals += 1;
      }
    }
    expect(refusals).toBeGreaterThan(10);
  });

  it('given the right credentials, a member reads the chain and an admin verifies it', async () => {
    expect((await harness.get('/blocks?limit=5', ORGANISATIONS.gridOperator)).status).toBe(200);
    const verify = await harness.post('/chain/verify', {}, await harness.adminAuthorization());
    expect(verify).toMatchObject({ status: 200, body: { ok: true } });
    const revoked = await harness.post('/chain/verify', {}, 'Bearer cbsg_admin_zz');
    expect(revoked).toMatchObject({ status: 401, body: { code: 'AUTH.MALFORMED' } });
  });
});
