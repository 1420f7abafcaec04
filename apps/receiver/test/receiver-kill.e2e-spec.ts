import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

import { CONSORTIUM_FILES } from '@app/control-center';
import {
  enrolMeters,
  enrolReceiver,
  type EnrolledMeter,
  type RunningService,
  startService,
} from '@app/devnet';
import { Transaction } from '@app/ledger';
import { FleetSimulator, STANDARD_DIMENSIONS } from '@app/meter-sdk';
import type { ContractResultBody } from '@app/registry';
import { createTestDatabase, freePort, type TestDatabase } from '@app/testing';

import { ConsortiumHarness, ORGANISATIONS, TEST_PASSPHRASE } from '../../../test/support/consortium-harness';

const OPERATOR = 'operator-billing';

jest.setTimeout(240_000);

describe('a receiver process killed (SIGKILL) in the middle of its work', () => {
  let harness: ConsortiumHarness;
  let db: TestDatabase;
  let webhook: Server;
  let meters: EnrolledMeter[];
  let receiver: RunningService | undefined;
  let env: Record<string, string>;
  let url: string;
  /** Every delivery the owners' endpoint took, by idempotency key. */
  const delivered = new Map<string, number>();
  const simulator = new FleetSimulator({ seed: 12, meters: 8 });

  const start = async () => {
    receiver = await startService(
      {
        name: 'receiver',
        entry: 'apps/receiver/src/main.ts',
        env,
        readyUrl: `${url}/health/live`,
        logDir: harness.dir,
      },
      { timeoutMs: 60_000 },
    );
  };

  const status = async () =>
    (await (await harness.fetchAs(ORGANISATIONS.gridOperator, `${url}/status`)).json()) as {
      height: string;
      readings: number;
    };

  beforeAll(async () => {
    harness = await ConsortiumHarness.start();
    webhook = createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        const key = String(request.headers['idempotency-key']);
        delivered.set(key, (delivered.get(key) ?? 0) + 1);
        response.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
    const notifyUrl = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/notify`;
    const ctx = harness.enrolment();
    const holder = await enrolReceiver(ctx, {
      id: OPERATOR,
      organisation: ORGANISATIONS.gridOperator,
      role: 'grid-operator',
    });
    const keystore = await harness.writeReceiverKeystore(holder);
    meters = await enrolMeters(
      ctx,
      simulator.meters.map((m, i) => ({
        meterId: m.meterId,
        registrar: ORGANISATIONS.gridOperator,
        dimensions: STANDARD_DIMENSIONS,
        policy: [{ receiver: OPERATOR, dimensions: ['consumption_kwh'] }],
        epoch: { maxReports: 96, maxAgeMs: 3_600_000 },
        owner: { name: `owner ${i}`, notifyUrl },
      })),
    );
    db = await createTestDatabase({ poolSize: 2 });
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    env = {
      RECEIVER_ID: OPERATOR,
      RECEIVER_KEYSTORE: keystore,
      KEYSTORE_PASSPHRASE: TEST_PASSPHRASE,
      NODE_URL: harness.nodeUrl,
      GENESIS_FILE: path.join(harness.dir, CONSORTIUM_FILES.genesis),
      DATABASE_URL: db.url,
      HTTP_PORT: String(port),
      FOLLOW_POLL_MS: '50',
      // Small steps, so that the kill lands between blocks of one catch-up, or inside one.
      FOLLOW_BATCH_BLOCKS: '1',
      CRYPTO_WORKERS: '1',
      CONTRACT: 'grid-operator-feedback',
      ORGANISATION_ID: ORGANISATIONS.gridOperator,
      ORGANISATION_KEYSTORE: path.join(
        harness.dir,
        CONSORTIUM_FILES.organisationKey(ORGANISATIONS.gridOperator),
      ),
      REDIS_URL: 'redis://127.0.0.1:6379',
      QUEUE_PREFIX: `kill-${process.pid}-${Date.now()}`,
      LOG_LEVEL: 'warn',
    };
  });

  afterAll(async () => {
    await receiver?.stop();
    webhook?.close();
    await db?.drop();
    await harness?.stop();
  });

  it('given blocks to catch up with, when the process is killed and started again, should skip no block, write nothing twice and deliver every action', async () => {
    // Blocks pile up while the receiver is not running, each batch in a block of its own (the next is
    // sent once it is in one): the receiver has a dozen blocks with readings to go, so that the kill
    // lands while it still has work (with 6 batches 600 ms apart, a CI run saw it read all 48
    // reports before the kill).
    const reports = [];
    for (let round = 0; round < 12; round += 1) {
      const now = Date.now();
      const batch = meters.map((m) =>
        m.reporter.report(simulator.reading(m.spec.meterId, now + round), now + round),
      );
      expect((await harness.post('/reports/batch', { reports: batch.map((r) => r.toJSON()) })).status).toBe(
        200,
      );
      reports.push(...batch);
      await harness.waitFor(`/reports/${batch[0]!.idHex}`, (body) => body.status !== 'pending');
    }
    for (const report of reports) {
      await harness.waitFor(`/reports/${report.idHex}`, (body) => body.status === 'final');
    }
    const finalHeight = BigInt(
      ((await harness.get('/chain/status')).body as { final: { height: string } }).final.height,
    );

    await start();
    // Kill it as soon as it has made some progress, while it still has blocks to go.
    for (;;) {
      const { readings } = await status();
      if (readings > 0) {
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await receiver!.kill();
    const { rows: afterKill } = await db.pool.query<{ n: string }>(
      'SELECT count(*) AS n FROM receiver_readings',
    );
    expect(Number(afterKill[0]!.n)).toBeLessThan(reports.length);

    await start();
    const deadline = Date.now() + 90_000;
    while (BigInt((await status()).height) < finalHeight && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // Every share once; every result once (evaluations run as jobs, after the block), on the chain once.
    const evaluated = Date.now() + 60_000;
    for (;;) {
      const { rows: done } = await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM contract_results');
      if (Number(done[0]!.n) >= reports.length || Date.now() > evaluated) {
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const { rows } = await db.pool.query<{ readings: string; distinct_reports: string; results: string }>(
      `SELECT (SELECT count(*) FROM receiver_readings) AS readings,
              (SELECT count(DISTINCT report_id) FROM receiver_readings) AS distinct_reports,
              (SELECT count(*) FROM contract_results) AS results`,
    );
    expect(rows[0]).toEqual({
      readings: String(reports.length),
      distinct_reports: String(reports.length),
      results: String(reports.length),
    });
    const until = Date.now() + 60_000;
    let onChain = 0;
    while (Date.now() < until) {
      const { rows: chain } = await harness.db.pool.query<{ bytes: Buffer }>(
        `SELECT bytes FROM block_transactions WHERE kind = 'contract.result'`,
      );
      const triggers = chain.flatMap((r) =>
        (Transaction.decode(r.bytes).body as ContractResultBody).results.map((result) => result.trigger),
      );
      onChain = triggers.length;
      expect(new Set(triggers).size).toBe(onChain);
      if (onChain === reports.length) {
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(onChain).toBe(reports.length);
    // Each owner saw each action (redelivered after the kill at worst, under the same key).
    const { rows: actions } = await db.pool.query<{ id: string }>(
      "SELECT jsonb_array_elements(actions)->>'id' AS id FROM contract_results",
    );
    const wanted = new Set(actions.map((a) => a.id));
    const deliveredBy = Date.now() + 30_000;
    while ([...wanted].some((id) => !delivered.has(id)) && Date.now() < deliveredBy) {
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(new Set(delivered.keys())).toEqual(wanted);
  });
});
