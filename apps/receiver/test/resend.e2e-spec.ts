import path from 'node:path';

import type { INestApplication } from '@nestjs/common';
import { Registry } from 'prom-client';

import { parseReceiverConfig } from '@app/config';
import { compileContract, GRID_OPERATOR_FEEDBACK_CONTRACT, instantiateContract } from '@app/contracts';
import { CONSORTIUM_FILES } from '@app/control-center';
import { Transaction } from '@app/ledger';
import type { ContractResultBody } from '@app/registry';
import { createTestDatabase, type TestDatabase } from '@app/testing';

import { ConsortiumHarness, ORGANISATIONS, TEST_PASSPHRASE } from '../../../test/support/consortium-harness';
import { createReceiverApp } from '../src/bootstrap';
import { ContractResultPublisher } from '../src/contract-result-publisher';
import { chainAction, DEFAULT_ACCOUNT, deliveredActions } from '../src/feedback-contract';
import { SentTransactions } from '../src/sent-transactions';

/** The receiver ConsortiumHarness.enrolBillingMeter registers. */
const OPERATOR = 'operator-billing';
/** The node's accept window: short enough to outwait, long enough for enrolment's transactions. */
const ACCEPT_WINDOW_MS = 6_000;
/** The consortium's entry window (genesis): no block holds a transaction older than this. */
const ENTRY_WINDOW_MS = 10_000;

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A stalled consortium: a receiver's contract result is accepted by a node, no block is made for
 * longer than the node's accept window, and the node drops it unincluded (expireMempool). The
 * receiver sees it is neither final nor pending any more, sends it again, and once the node calls it
 * too old and the final chain is past its entry window without it, signs it again: the result is on
 * the chain once.
 */
describe('a receiver whose accepted transaction a node lost unincluded', () => {
  let harness: ConsortiumHarness;
  let db: TestDatabase;
  let operator: INestApplication;
  let meterId: string;

  beforeAll(async () => {
    harness = await ConsortiumHarness.start({
      nodeEnv: { ACCEPT_WINDOW_MS: String(ACCEPT_WINDOW_MS), FUTURE_SKEW_MS: '1000' },
      blockRules: { entryWindowMs: ENTRY_WINDOW_MS },
    });
    const { meter, receiver } = await harness.enrolBillingMeter(21, 4);
    const keystore = await harness.writeReceiverKeystore(receiver);
    meterId = meter.spec.meterId;
    db = await createTestDatabase({ poolSize: 2 });
    operator = await createReceiverApp(
      parseReceiverConfig({
        RECEIVER_ID: OPERATOR,
        RECEIVER_KEYSTORE: keystore,
        KEYSTORE_PASSPHRASE: TEST_PASSPHRASE,
        NODE_URL: harness.nodeUrl,
        GENESIS_FILE: path.join(harness.dir, CONSORTIUM_FILES.genesis),
        DATABASE_URL: db.url,
        FOLLOW_POLL_MS: '100',
        CRYPTO_WORKERS: '1',
        CONTRACT: 'grid-operator-feedback',
        ORGANISATION_ID: ORGANISATIONS.gridOperator,
        ORGANISATION_KEYSTORE: path.join(
          harness.dir,
          CONSORTIUM_FILES.organisationKey(ORGANISATIONS.gridOperator),
        ),
        REDIS_URL: 'redis://127.0.0.1:6379',
        QUEUE_PREFIX: `resend-${process.pid}-${Date.now()}`,
        RESEND_AFTER_SECONDS: '1',
        LOG_LEVEL: process.env.TEST_LOGS ? 'debug' : 'fatal',
      }),
    );
    await operator.listen(0, '127.0.0.1');
  });

  afterAll(async () => {
    await operator?.close();
    await db?.drop();
    await harness?.stop();
  });

  it('given a contract result accepted while no block is made, expired by the node, should send it again once the chain moves, and the result is on the chain once', async () => {
    // The node as a validator only: it accepts, but makes no block (a majority of producers down).
    const delegates = harness.nodeEnv.DELEGATE_KEYSTORES!;
    harness.nodeEnv.DELEGATE_KEYSTORES = '';
    await harness.restartNode();

    // A forced trip: the result of a meter in serious arrears, published as the operator's jobs do.
    const trigger = `report:${'7e'.repeat(32)}`;
    const contract = compileContract(
      instantiateContract(GRID_OPERATOR_FEEDBACK_CONTRACT, { owner: ORGANISATIONS.gridOperator }),
    );
    const input = { ...DEFAULT_ACCOUNT, arrears: 450, tampered: false, meter_value: 0.7 };
    const evaluation = contract.evaluate(meterId, input, trigger);
    const actions = deliveredActions(evaluation).map(chainAction);
    expect(actions.map((a) => a.type)).toContain('forced-trip');
    await db.pool.query(
      `INSERT INTO contract_results (receiver_id, trigger, meter_id, contract_id, contract_version, input, result_hash, actions, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now())`,
      [
        OPERATOR,
        trigger,
        meterId,
        contract.contract.id,
        contract.contract.version,
        JSON.stringify(input),
        evaluation.resultHash,
        JSON.stringify(actions),
      ],
    );
    const publisher = new ContractResultPublisher(
      db.pool,
      {
        receiverId: OPERATOR,
        organisationId: ORGANISATIONS.gridOperator,
        organisationKey: harness.organisationKey(ORGANISATIONS.gridOperator),
        chainId: harness.chainId,
      },
      // Not started: the receiver app's own sweep is what must find the lost transaction.
      new SentTransactions(
        db.pool,
        {
          receiverId: OPERATOR,
          nodeUrl: harness.nodeUrl,
          nodeAuthorization: () => harness.authorization(ORGANISATIONS.gridOperator),
          entryWindowMs: ENTRY_WINDOW_MS,
          resendAfterMs: 1_000,
          retentionMs: 3_600_000,
        },
        new Registry(),
      ),
    );
    await publisher.publish([trigger]);
    const batches = async () =>
      (
        await db.pool.query<{ tx: Buffer; final_height: string | null }>(
          `SELECT b.tx, b.final_height FROM contract_result_batches b
           JOIN contract_results r ON r.receiver_id = b.receiver_id AND r.tx_hash = b.tx_hash
           WHERE r.receiver_id = $1 AND r.trigger = $2`,
          [OPERATOR, trigger],
        )
      ).rows;
    const [accepted] = await batches();
    const original = Transaction.decode(accepted!.tx);
    const where = async (hash: string) =>
      ((await harness.get(`/transactions/${hash}`, ORGANISATIONS.gridOperator)).body as { status: string })
        .status;
    expect(await where(original.hashHex)).toBe('pending');

    // No block takes it within the node's window: the node drops it.
    const expiry = Date.now() + ACCEPT_WINDOW_MS + 20_000;
    while ((await where(original.hashHex)) !== 'unknown' && Date.now() < expiry) {
      await sleep(250);
    }
    expect(await where(original.hashHex)).toBe('unknown');

    // The producers are back.
    harness.nodeEnv.DELEGATE_KEYSTORES = delegates;
    await harness.restartNode();

    const chainResults = async () => {
      const { rows } = await harness.db.pool.query<{ bytes: Buffer }>(
        `SELECT bytes FROM block_transactions WHERE kind = 'contract.result' ORDER BY height, position`,
      );
      return rows.flatMap((r) => {
        const tx = Transaction.decode(r.bytes);
        return (tx.body as ContractResultBody).results
          .filter((result) => result.trigger === trigger)
          .map((result) => ({ tx, result }));
      });
    };
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline) {
      const [batch] = await batches();
      if ((await chainResults()).length > 0 && batch?.final_height) {
        break;
      }
      await sleep(250);
    }
    const found = await chainResults();
    expect(found).toHaveLength(1);
    const [batch] = await batches();
    const fresh = Transaction.decode(batch!.tx);
    // Signed again (the node found the original too old), and only that one is on the chain.
    expect(fresh.hashHex).not.toBe(original.hashHex);
    expect(fresh.body).toEqual(original.body);
    expect(found[0]!.tx.hashHex).toBe(fresh.hashHex);
    expect(batch!.final_height).not.toBeNull();
    expect(await where(original.hashHex)).toBe('unknown');

    const metrics = await (await fetch(`${await operator.getUrl()}/metrics`)).text();
    expect(metrics).toMatch(
      /cbsg_receiver_transactions_resent_total\{kind="contract.result",how="signed-again"\} 1\b/,
    );
  });
});
