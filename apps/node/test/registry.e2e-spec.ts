import { issueIdentityToken } from '@app/auth';
import { blsGenerateKey, blsProvePossession, toHex } from '@app/crypto';
import { Transaction } from '@app/ledger';
import { createHolderIdentity, fetchPartialKey, PartialKeyFetchError } from '@app/meter-sdk';

import { ADMIN, ConsortiumHarness, ORGANISATIONS, PEER_NODE } from '../../../test/support/consortium-harness';

describe('registry transactions (HTTP)', () => {
  let harness: ConsortiumHarness;

  beforeAll(async () => {
    harness = await ConsortiumHarness.start();
    await harness.registerReceiver(ORGANISATIONS.controlCenter, 'cc-analytics', 'control-center');
  });

  afterAll(async () => {
    await harness?.stop();
  });

  const meterBody = (meterId: string, holder = createHolderIdentity(meterId)) => ({
    meterId,
    publicKey: holder.publicKey,
    possession: holder.possession,
    dimensions: ['consumption_kwh', 'device_status'],
    policy: [{ receiver: 'cc-analytics', dimensions: ['consumption_kwh', 'device_status'] }],
    epoch: { maxReports: 4, maxAgeMs: 60_000 },
    owner: { name: 'A household', notifyUrl: 'https://phones.example/a' },
  });

  // The chain finalizes a block every slot meanwhile, refused transactions or not: those events are not counted.
  async function tableCounts() {
    const { rows } = await harness.db.pool.query<{ meters: number; mempool: number; events: number }>(
      `SELECT (SELECT count(*)::int FROM registry_meters) AS meters, (SELECT count(*)::int FROM mempool_transactions) AS mempool,
              (SELECT count(*)::int FROM events WHERE type <> 'chain.block-finalized') AS events`,
    );
    return rows[0]!;
  }

  async function expectRefused(
    send: () => Promise<{ status: number; body: Record<string, unknown> }>,
    status: number,
    code: string,
  ) {
    const before = await tableCounts();
    const answer = await send();
    expect({ status: answer.status, code: answer.body.code }).toEqual({ status, code });
    expect(await tableCounts()).toEqual(before);
  }

  it('given a valid meter registration, when submitted twice, should accept it once and answer the duplicate with the same hash', async () => {
    const tx = Transaction.sign(
      {
        chainId: harness.chainId,
        kind: 'meter.register',
        sender: ORGANISATIONS.gridOperator,
        timestamp: Date.now(),
        body: meterBody('meter-a'),
      },
      harness.organisationKey(ORGANISATIONS.gridOperator),
    );
    const first = await harness.post('/transactions', tx.toJSON());
    const second = await harness.post('/transactions', tx.toJSON());
    expect(first).toMatchObject({ status: 202, body: { hash: tx.hashHex, duplicate: false } });
    expect(second).toMatchObject({ status: 202, body: { hash: tx.hashHex, duplicate: true } });
    // In effect once its block is final.
    await harness.waitFor('/meters/meter-a', () => true);
    expect((await harness.get('/meters/meter-a')).body).toMatchObject({
      id: 'meter-a',
      status: 'registered',
      alpha: null,
    });
  });

  it("given a registered meter, should show its owner's contact to organisations and admins, not to a peer node's token nor without credentials", async () => {
    // meter-a, registered by the test above.
    const owner = meterBody('meter-a').owner;
    expect((await harness.get('/meters/meter-a', ORGANISATIONS.equipmentSupplier)).body).toMatchObject({
      owner,
    });
    expect((await harness.get('/meters/meter-a', ADMIN)).body).toMatchObject({ owner });

    const node = `Bearer ${issueIdentityToken(harness.consortium.nodeKeys.get(PEER_NODE)!, harness.chainId, {
      kind: 'node',
      id: PEER_NODE,
    })}`;
    const asNode = await fetch(`${harness.nodeUrl}/meters/meter-a`, { headers: { authorization: node } });
    const asAnyone = await harness.get('/meters/meter-a', null);
    for (const [status, body] of [
      [asNode.status, (await asNode.json()) as Record<string, unknown>],
      [asAnyone.status, asAnyone.body as Record<string, unknown>],
    ] as const) {
      expect(status).toBe(200);
      expect(body).toMatchObject({ id: 'meter-a' });
      expect(body).not.toHaveProperty('owner');
      expect(body).not.toHaveProperty('location');
    }
  });

  it('given transactions that break the rules, when submitted, should refuse each with its code and change nothing', async () => {
    const op = ORGANISATIONS.gridOperator;
    await expectRefused(
      () => harness.submit(op, 'meter.register', meterBody('meter-a')),
      409,
      'REGISTRY.ALREADY_REGISTERED',
    );
    // the supplier has no meter-registrar role
    await expectRefused(
      () => harness.submit(ORGANISATIONS.equipmentSupplier, 'meter.register', meterBody('meter-b')),
      403,
      'TX.NOT_ALLOWED',
    );
    // signed by someone else's key
    const forged = Transaction.sign(
      {
        chainId: harness.chainId,
        kind: 'meter.register',
        sender: op,
        timestamp: Date.now(),
        body: meterBody('meter-c'),
      },
      blsGenerateKey().secret,
    );
    await expectRefused(() => harness.post('/transactions', forged.toJSON()), 401, 'TX.BAD_SIGNATURE');
    // an organisation that is not a member
    const outsider = Transaction.sign(
      {
        chainId: harness.chainId,
        kind: 'meter.register',
        sender: 'mallory-inc',
        timestamp: Date.now(),
        body: meterBody('meter-d'),
      },
      blsGenerateKey().secret,
    );
    await expectRefused(() => harness.post('/transactions', outsider.toJSON()), 403, 'TX.UNKNOWN_SENDER');
    // another chain, a stale and a future timestamp
    const otherChain = Transaction.sign(
      {
        chainId: 'cbsg-other',
        kind: 'meter.register',
        sender: op,
        timestamp: Date.now(),
        body: meterBody('meter-e'),
      },
      harness.organisationKey(op),
    );
    await expectRefused(() => harness.post('/transactions', otherChain.toJSON()), 422, 'TX.WRONG_CHAIN');
    await expectRefused(
      () => harness.submit(op, 'meter.register', meterBody('meter-f'), Date.now() - 3_600_000),
      422,
      'TX.STALE',
    );
    await expectRefused(
      () => harness.submit(op, 'meter.register', meterBody('meter-g'), Date.now() + 3_600_000),
      422,
      'TX.FUTURE',
    );
    // a body that breaks the schema, a policy naming an unknown receiver or an unmeasured dimension
    await expectRefused(
      () => harness.submit(op, 'meter.register', { ...meterBody('meter-h'), extra: 1 }),
      400,
      'TX.INVALID_BODY',
    );
    await expectRefused(
      () =>
        harness.submit(op, 'meter.register', {
          ...meterBody('meter-i'),
          policy: [{ receiver: 'nobody', dimensions: ['consumption_kwh'] }],
        }),
      422,
      'REGISTRY.BAD_POLICY',
    );
    await expectRefused(
      () =>
        harness.submit(op, 'meter.register', {
          ...meterBody('meter-j'),
          policy: [{ receiver: 'cc-analytics', dimensions: ['voltage_a'] }],
        }),
      422,
      'REGISTRY.BAD_POLICY',
    );
    // a public key whose proof of possession belongs to another key (a rogue key)
    const other = blsGenerateKey();
    await expectRefused(
      () =>
        harness.submit(op, 'meter.register', {
          ...meterBody('meter-k'),
          possession: toHex(blsProvePossession(other.secret)),
        }),
      422,
      'REGISTRY.BAD_KEY',
    );
    // the identity point as a public key
    await expectRefused(
      () =>
        harness.submit(op, 'meter.register', { ...meterBody('meter-l'), publicKey: `c0${'0'.repeat(94)}` }),
      422,
      'REGISTRY.BAD_KEY',
    );
    // only the control center publishes partial keys
    await expectRefused(
      () =>
        harness.submit(op, 'cc.partial-key', {
          subject: 'meter',
          identity: 'meter-a',
          alpha: createHolderIdentity('x').publicKey,
        }),
      403,
      'TX.NOT_ALLOWED',
    );
    // malformed envelopes
    await expectRefused(() => harness.post('/transactions', { hello: 'world' }), 400, 'TX.MALFORMED');
  });

  it('given a registered meter, when it asks for its partial key twice, should get the same key, and nobody else can get it', async () => {
    const holder = createHolderIdentity('meter-p');
    expect(
      (await harness.submit(ORGANISATIONS.gridOperator, 'meter.register', meterBody('meter-p', holder)))
        .status,
    ).toBe(202);
    await harness.waitFor('/meters/meter-p', () => true);
    const ask = (h = holder) =>
      fetchPartialKey({
        ccUrl: harness.ccUrl,
        chainId: harness.chainId,
        params: harness.params,
        subject: 'meter',
        holder: h,
      });
    const first = await ask();
    const second = await ask();
    expect(toHex(second.alpha)).toBe(toHex(first.alpha));
    expect(toHex(second.h.exposeBytes())).toBe(toHex(first.h.exposeBytes()));
    await harness.waitFor('/meters/meter-p', (m) => m.status === 'active');
    expect((await harness.get('/meters/meter-p')).body).toMatchObject({
      status: 'active',
      alpha: toHex(first.alpha),
    });

    // Someone with another key asking for meter-p's partial key.
    const impostor = { ...createHolderIdentity('meter-p') };
    await expect(ask(impostor)).rejects.toMatchObject({ status: 401, code: 'PARTIAL_KEY.BAD_SIGNATURE' });
    await expect(ask(createHolderIdentity('meter-unknown'))).rejects.toBeInstanceOf(PartialKeyFetchError);
  });
});
