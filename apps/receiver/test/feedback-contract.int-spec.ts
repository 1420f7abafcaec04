import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { Logger } from '@nestjs/common';
import { Registry } from 'prom-client';

import {
  compileContract,
  type ContractDocument,
  GRID_OPERATOR_FEEDBACK_CONTRACT,
  instantiateContract,
} from '@app/contracts';
import { BlsPublicKey, blsGenerateKey, initCrypto, type SecretScalar } from '@app/crypto';
import { createTestDatabase, type TestDatabase } from '@app/testing';

import { DEFAULT_ACCOUNT, FeedbackContractRunner, saveOperatorAccount } from '../src/feedback-contract';
import type { NodeMeters } from '../src/node-meters';
import { SentTransactions } from '../src/sent-transactions';
import { signNotifications, verifyNotification } from '../src/notification-signature';

const ORGANISATION = 'grid-operator';
const RECEIVER = 'operator-billing';

/** A share to answer, as the follower queues it. */
interface Share {
  meterId: string;
  reportId: string;
  consumption: number | null;
  tampered: boolean;
}

/**
 * The runner against a real database, with a stand-in for the node that lists `deployed` as the
 * organisation's contract in force (GET /contracts?id=) and no owners' device contracts.
 */
describe('FeedbackContractRunner, a block of shares evaluated into contract_results', () => {
  let db: TestDatabase;
  let node: Server;
  let nodeUrl: string;
  let deployed: ContractDocument | undefined;
  const organisationKey = () => blsGenerateKey().secret;

  beforeAll(async () => {
    await initCrypto();
    db = await createTestDatabase({ poolSize: 4 });
    node = createServer((request, response) => {
      const url = new URL(request.url ?? '/', 'http://node');
      const contracts =
        url.pathname === '/contracts' && url.searchParams.get('id') !== null && deployed
          ? [{ version: deployed.version, document: deployed }]
          : [];
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ contracts, next: null }));
    });
    await new Promise<void>((resolve) => node.listen(0, '127.0.0.1', resolve));
    nodeUrl = `http://127.0.0.1:${(node.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    node?.close();
    await db?.drop();
  });

  function runner(
    metrics = new Registry(),
    { key = organisationKey(), meters }: { key?: SecretScalar; meters?: NodeMeters } = {},
  ): FeedbackContractRunner {
    return new FeedbackContractRunner(
      db.pool,
      metrics,
      {
        receiverId: RECEIVER,
        organisationId: ORGANISATION,
        organisationKey: key,
        chainId: 'cbsg-test',
        nodeUrl,
        nodeAuthorization: () => 'Bearer test',
        redisUrl: 'redis://127.0.0.1:6379',
        queuePrefix: 'unused',
        notifyAttempts: 1,
      },
      new SentTransactions(
        db.pool,
        {
          receiverId: RECEIVER,
          nodeUrl,
          nodeAuthorization: () => 'Bearer test',
          entryWindowMs: 3_600_000,
          resendAfterMs: 60_000,
          retentionMs: 3_600_000,
        },
        metrics,
      ),
      meters,
    );
  }

  /** What the evaluation worker does with one block's job (no Redis: the job is handed over directly). */
  async function evaluateBlock(jobId: string, shares: Share[], by = runner()): Promise<void> {
    const job = { id: jobId, data: { height: '1', evaluations: shares } };
    await (by as unknown as { evaluate(j: typeof job): Promise<void> }).evaluate(job);
  }

  /** The operator's data for a meter, as PUT /accounts keeps it. */
  async function account(meterId: string, values: Partial<typeof DEFAULT_ACCOUNT>): Promise<void> {
    await saveOperatorAccount(db.pool, meterId, { ...DEFAULT_ACCOUNT, ...values });
  }

  /** What the block left for meters to fetch and for owners to be told. */
  async function sideEffects(meterIds: string[]) {
    const { rows: commands } = await db.pool.query<{ meter_id: string; type: string }>(
      'SELECT meter_id, type FROM meter_commands WHERE receiver_id = $1 AND meter_id = ANY($2::text[])',
      [RECEIVER, meterIds],
    );
    const { rows: outbox } = await db.pool.query<{ payload: { notifications?: Array<{ meterId: string }> } }>(
      `SELECT payload FROM outbox WHERE job_name = 'notify-block'`,
    );
    const notified = outbox
      .flatMap((o) => o.payload.notifications ?? [])
      .map((n) => n.meterId)
      .filter((m) => meterIds.includes(m));
    return { commands, notified };
  }

  function share(meterId: string, reportByte: string, consumption = 0.4): Share {
    return { meterId, reportId: reportByte.repeat(32), consumption, tampered: false };
  }

  async function results(meterIds: string[]) {
    const { rows } = await db.pool.query<{
      meter_id: string;
      trigger: string;
      contract_version: number;
      input: Record<string, unknown>;
      result_hash: string;
    }>(
      `SELECT meter_id, trigger, contract_version, input, result_hash FROM contract_results
       WHERE receiver_id = $1 AND meter_id = ANY($2::text[]) ORDER BY meter_id`,
      [RECEIVER, meterIds],
    );
    return rows;
  }

  it('given a deployed document under the built-in version that is not the built-in, should run the deployed one', async () => {
    // As a chain from before the registry refused it could hold: (grid-operator/feedback, 1), another rule set.
    const builtin = instantiateContract(GRID_OPERATOR_FEEDBACK_CONTRACT, { owner: ORGANISATION });
    deployed = {
      ...builtin,
      functions: builtin.functions.map((f) => ({
        ...f,
        otherwise: f.otherwise?.map((a) => ({ ...a, message: `${a.message} (deployed)` })),
      })),
    };
    expect(deployed.version).toBe(builtin.version);
    expect(compileContract(deployed).hash).not.toBe(compileContract(builtin).hash);

    await evaluateBlock('f1-block', [share('meter-f1', 'f1')]);

    const [row] = await results(['meter-f1']);
    expect(row).toBeDefined();
    const again = compileContract(deployed).evaluate(row!.meter_id, row!.input, row!.trigger);
    expect(row!.result_hash).toBe(again.resultHash);
    expect(row!.input).toMatchObject({ ...DEFAULT_ACCOUNT, meter_value: 0.4 });
  });

  it('given a deployed contract for one meter, should answer that meter only: no result, command or notice for the others', async () => {
    deployed = instantiateContract(GRID_OPERATOR_FEEDBACK_CONTRACT, {
      owner: ORGANISATION,
      version: 2,
      appliesTo: { scope: 'meters', meters: ['meter-f2a'] },
    });
    // In serious arrears both: the contract would trip each meter it answers.
    await account('meter-f2a', { arrears: 450 });
    await account('meter-f2b', { arrears: 450 });

    await evaluateBlock('f2-block', [share('meter-f2a', 'f2'), share('meter-f2b', 'f3')]);

    expect((await results(['meter-f2a', 'meter-f2b'])).map((r) => r.meter_id)).toEqual(['meter-f2a']);
    const { commands, notified } = await sideEffects(['meter-f2a', 'meter-f2b']);
    expect(commands).toEqual([{ meter_id: 'meter-f2a', type: 'forced-trip' }]);
    expect(new Set(notified)).toEqual(new Set(['meter-f2a']));
  });

  it('given a deployed contract for tariff classes, which a receiver cannot tell, should answer no meter and warn once', async () => {
    deployed = instantiateContract(GRID_OPERATOR_FEEDBACK_CONTRACT, {
      owner: ORGANISATION,
      version: 3,
      appliesTo: { scope: 'tariffs', tariffs: ['residential'] },
    });
    const warn = jest.spyOn(Logger.prototype, 'warn');
    const by = runner();

    await evaluateBlock('f2-tariff-1', [share('meter-f2c', 'f4')], by);
    await evaluateBlock('f2-tariff-2', [share('meter-f2c', 'f5')], by);

    expect(await results(['meter-f2c'])).toEqual([]);
    const warnings = warn.mock.calls.map(([message]) => String(message)).filter((m) => /tariff/.test(m));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/grid-operator\/feedback version 3 applies to tariff classes/);
  });

  it("given a contract that fails on one meter's input, should record the other meters' results and count the failure", async () => {
    // The price per kWh turned into kWh per unit of money: no number when the operator set the price to 0.
    const base = instantiateContract(GRID_OPERATOR_FEEDBACK_CONTRACT, { owner: ORGANISATION, version: 4 });
    deployed = {
      ...base,
      functions: base.functions.map((f) =>
        f.name !== 'cost'
          ? f
          : {
              ...f,
              otherwise: f.otherwise?.map((a) => ({
                ...a,
                params: { ...a.params, kwh_per_unit: { '/': [1, { var: 'latest_price' }] } },
              })),
            },
      ),
    };
    await account('meter-f3a', { latest_price: 0 });
    await account('meter-f3b', { latest_price: 0.25 });
    const warn = jest.spyOn(Logger.prototype, 'warn');
    const metrics = new Registry();

    await evaluateBlock('f3-block', [share('meter-f3a', 'f6'), share('meter-f3b', 'f7')], runner(metrics));

    const rows = await results(['meter-f3a', 'meter-f3b']);
    expect(rows.map((r) => r.meter_id)).toEqual(['meter-f3b']);
    expect(compileContract(deployed).evaluate('meter-f3b', rows[0]!.input, rows[0]!.trigger).resultHash).toBe(
      rows[0]!.result_hash,
    );
    expect((await sideEffects(['meter-f3a', 'meter-f3b'])).notified).not.toContain('meter-f3a');
    const warnings = warn.mock.calls.map(([message]) => String(message));
    expect(warnings).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `meter-f3a \\(report:${'f6'.repeat(32)}\\): CONTRACT.EVALUATION_FAILED: .*no finite result`,
        ),
      ),
    );
    expect(await metrics.metrics()).toMatch(
      /cbsg_receiver_contract_evaluation_failures_total\{kind="feedback"\} 1/,
    );
  });

  it('given notification jobs signed over an hour ago or queued before bodies had a signedAt, should post them signed again, now', async () => {
    const key = blsGenerateKey();
    const posted: Array<{ text: string; headers: Record<string, string | string[] | undefined> }> = [];
    const owner = createServer((request, response) => {
      let text = '';
      request.on('data', (chunk: Buffer) => (text += chunk.toString()));
      request.on('end', () => {
        posted.push({ text, headers: request.headers });
        response.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => owner.listen(0, '127.0.0.1', resolve));
    const notifyUrl = `http://127.0.0.1:${(owner.address() as AddressInfo).port}/notify`;
    const meters = { get: () => Promise.resolve({ owner: { notifyUrl } }) } as unknown as NodeMeters;
    const by = runner(new Registry(), { key: key.secret, meters });
    const action = (id: string) => ({ id, type: 'forced-trip', message: 'serious arrears' });
    const notification = (id: string) => ({
      meterId: 'meter-n',
      trigger: 'n'.repeat(64),
      action: action(id),
    });
    const presigned = (id: string, extra: object) => {
      const body = JSON.stringify({ ...notification(id), from: ORGANISATION, ...extra });
      return { ...notification(id), body, signed: signNotifications([body], key.secret, 'cbsg-test')[0]! };
    };
    const jobs = by as unknown as {
      notify(job: { data: object }): Promise<void>;
      notifyBlock(job: { data: { notifications: object[] } }): Promise<void>;
    };
    const before = Date.now();
    try {
      // Queued before bodies had a signedAt (pre-signed), before batches (nothing signed), and a block
      // signed two hours ago (a long back-off, an outage).
      await jobs.notify({ data: presigned('old-form', {}) });
      await jobs.notify({ data: notification('unsigned') });
      await jobs.notifyBlock({
        data: {
          notifications: [
            presigned('late-1', { signedAt: before - 2 * 3_600_000 }),
            presigned('late-2', { signedAt: before - 2 * 3_600_000 }),
          ],
        },
      });
    } finally {
      owner.close();
    }

    const verified = posted.map((p) =>
      verifyNotification(p.text, p.headers, BlsPublicKey.fromBytes(key.publicKey), 'cbsg-test', {
        maxAgeMs: 60_000,
      }),
    );
    expect(verified.map((v) => v?.action.id)).toEqual(['old-form', 'unsigned', 'late-1', 'late-2']);
    expect(verified.every((v) => v!.signedAt >= before && v!.from === ORGANISATION)).toBe(true);
    // The block's two are signed again together: one signature for the batch.
    expect(posted[2]!.headers['x-cbsg-signature']).toBe(posted[3]!.headers['x-cbsg-signature']);
  });
});
