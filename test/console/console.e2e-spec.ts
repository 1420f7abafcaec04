import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import type { INestApplication } from '@nestjs/common';
import { Queue, Worker } from 'bullmq';
import type { Page } from 'playwright-core';

import { AdminKeyRepository } from '@app/auth';
import type { ChainStatus } from '@app/chain';
import { parseControlCenterConfig } from '@app/config';
import { compileContract, GRID_OPERATOR_FEEDBACK_CONTRACT, instantiateContract } from '@app/contracts';
import { type Consortium, CONSORTIUM_FILES, createConsortium, writeConsortium } from '@app/control-center';
import { SystemParams } from '@app/crypto';
import {
  enrolMeters,
  enrolReceiver,
  type EnrolledMeter,
  type EnrolmentContext,
  ensureConsoleBuilt,
  NodeNetwork,
} from '@app/devnet';
import { Transaction } from '@app/ledger';
import { FleetSimulator, NodeSubmitter, STANDARD_DIMENSIONS } from '@app/meter-sdk';
import { repoRoot } from '@app/persistence';
import { QueueName } from '@app/queue';
import { createTestDatabase, freePort, type TestDatabase } from '@app/testing';

import { createControlCenterApp } from '../../apps/control-center/src/bootstrap';
import { corruptShareAndSign } from '../support/forgery';
import { type HeadlessChromium, launchChromium } from '../support/headless-chromium';

/**
 * The admin console in a real headless Chromium against three node processes: 7 delegates spread
 * 3/3/1, so that without node-3 more than 2/3 of them still vote and the chain goes on, recording
 * node-3's delegate's slots as missed. 1 s slots.
 */
const DELEGATES = Array.from({ length: 7 }, (_, i) => `delegate-${i + 1}`);
const HOSTING: Record<string, string[]> = {
  'node-1': DELEGATES.slice(0, 3),
  'node-2': DELEGATES.slice(3, 6),
  'node-3': DELEGATES.slice(6),
};
const PASSPHRASE = 'console test passphrase';
const ORGS = { cc: 'control-center', operator: 'grid-operator' };
const OPERATOR_RECEIVER = 'operator-billing';
const ARTIFACTS = path.join(repoRoot(), 'test-artifacts', 'console');

jest.setTimeout(300_000);

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true });
}

describe('the admin console in a headless Chromium', () => {
  let consortium: Consortium;
  let dir: string;
  let databases: Record<string, TestDatabase>;
  let network: NodeNetwork;
  let controlCenter: INestApplication;
  let meters: EnrolledMeter[];
  let chromium: HeadlessChromium;
  let page: Page;
  let adminKey: string;
  let consoleUrl: string;
  let queuePrefix: string;
  const simulator = new FleetSimulator({ seed: 12, meters: 2 });
  const timings: Record<string, number> = {};

  const nodeUrl = () => network.node('node-1').url;
  const status = async (): Promise<ChainStatus> =>
    (await (await fetch(`${nodeUrl()}/chain/status`)).json()) as ChainStatus;

  beforeAll(async () => {
    // The node serves dist/console: a checkout without a build gets one first.
    ensureConsoleBuilt();
    await mkdir(ARTIFACTS, { recursive: true });
    consortium = await createConsortium({
      chainId: 'cbsg-console-test',
      organisations: [
        {
          id: ORGS.cc,
          name: 'Control center',
          roles: ['control-center', 'meter-registrar', 'receiver'],
          stake: 100,
        },
        {
          id: ORGS.operator,
          name: 'Grid operator',
          roles: ['grid-operator', 'meter-registrar', 'receiver', 'delegate-operator'],
          stake: 60,
        },
      ],
      delegates: DELEGATES.map((id, i) => ({ id, organisation: i % 2 === 0 ? ORGS.cc : ORGS.operator })),
      nodes: Object.keys(HOSTING).map((id) => ({ id, organisation: ORGS.cc })),
      producers: DELEGATES.length,
      slotMs: 1_000,
    });
    dir = await mkdtemp(path.join(tmpdir(), 'cbsg-console-'));
    await writeConsortium(consortium, dir, PASSPHRASE, { scrypt: { N: 2 ** 14, r: 8, p: 1 } });
    databases = {};
    for (const id of Object.keys(HOSTING)) {
      databases[id] = await createTestDatabase({ poolSize: 2 });
    }
    const ports = await Promise.all(Object.keys(HOSTING).map(() => freePort()));
    queuePrefix = `console-${process.pid}-${Date.now()}`;
    network = await NodeNetwork.start({
      consortiumDir: dir,
      passphrase: PASSPHRASE,
      nodes: Object.entries(HOSTING).map(([id, delegates], i) => ({
        id,
        databaseUrl: databases[id]!.url,
        port: ports[i]!,
        delegates,
      })),
      redisUrl: 'redis://127.0.0.1:6379',
      logDir: path.join(dir, 'logs'),
      queuePrefix,
      logLevel: process.env.TEST_LOGS ? 'debug' : 'warn',
      env: { CRYPTO_WORKERS: '1' },
    });
    controlCenter = await createControlCenterApp(
      parseControlCenterConfig({
        NODE_URL: nodeUrl(),
        GENESIS_FILE: path.join(dir, CONSORTIUM_FILES.genesis),
        CC_KEYS_DIR: dir,
        CC_PASSPHRASE: PASSPHRASE,
        LOG_LEVEL: 'fatal',
      }),
    );
    await controlCenter.listen(0, '127.0.0.1');
    const ctx: EnrolmentContext = {
      nodeUrl: nodeUrl(),
      ccUrl: await controlCenter.getUrl(),
      chainId: consortium.genesis.chainId,
      params: SystemParams.fromJSON(consortium.genesis.systemParams),
      organisationKeys: consortium.organisationKeys,
    };
    await enrolReceiver(ctx, { id: OPERATOR_RECEIVER, organisation: ORGS.operator, role: 'grid-operator' });
    meters = await enrolMeters(
      ctx,
      simulator.meters.map((m, i) => ({
        meterId: m.meterId,
        registrar: ORGS.operator,
        dimensions: STANDARD_DIMENSIONS,
        policy: [{ receiver: OPERATOR_RECEIVER, dimensions: ['consumption_kwh', 'device_status'] }],
        epoch: { maxReports: 8, maxAgeMs: 3_600_000 },
        owner: { name: `owner ${i}`, notifyUrl: `https://phones.example/${i}` },
        location: `substation ${i + 1}`,
      })),
    );
    // As `cbsg admin-key create` makes one: straight into node-1's database.
    adminKey = (await new AdminKeyRepository(databases['node-1']!.pool).create('console test')).key;
    consoleUrl = `${nodeUrl()}/console`;
    chromium = await launchChromium();
    page = chromium.context.pages()[0] ?? (await chromium.context.newPage());
  });

  afterAll(async () => {
    await writeFile(path.join(ARTIFACTS, 'timings.json'), `${JSON.stringify(timings, null, 2)}\n`).catch(
      () => undefined,
    );
    await chromium?.close();
    await controlCenter?.close();
    await network?.stop();
    for (const db of Object.values(databases ?? {})) {
      await db.drop();
    }
    if (dir) {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('given a wrong admin key, the login should refuse it and show the node’s reason', async () => {
    const started = Date.now();
    await page.goto(consoleUrl);
    await page.getByLabel('Admin key').waitFor();
    timings.loginFormVisibleMs = Date.now() - started;
    timings.firstLoadMs = await page.evaluate<number>(
      "Math.round(performance.getEntriesByType('navigation')[0].loadEventEnd)",
    );
    // The first-load figure is written next to the screenshots and measured by bench:api: a wall-clock
    // bound here failed CI once (2.5 s) while the faults-under-load test shared the two cores.

    await page.getByLabel('Admin key').fill(`cbsg_admin_000000000000_${'A'.repeat(43)}`);
    await page.getByRole('button', { name: 'Sign in' }).click();
    const reason = page.getByTestId('login-reason');
    await reason.waitFor();
    expect(await reason.textContent()).toContain('AUTH.BAD_ADMIN_KEY');
    // Nothing of a refused key is kept.
    expect(await page.evaluate<number>('sessionStorage.length')).toBe(0);
    await screenshot(page, '01-login-refused');
  });

  it('given the admin key, should sign in and show the head advancing', async () => {
    const started = Date.now();
    await page.getByLabel('Admin key').fill(adminKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    const head = page.getByTestId('head-height');
    const first = await until('the live head height', async () => {
      const text = (await head.textContent()) ?? '';
      return /^\d+$/.test(text) ? Number(text) : undefined;
    });
    timings.signInToLiveHeadMs = Date.now() - started;
    const later = await until('the head to advance', async () => {
      const height = Number(await head.textContent());
      return height > first ? height : undefined;
    });
    expect(later).toBeGreaterThan(first);
    // The key went with every call as a Bearer header and stays in this tab's sessionStorage only.
    expect(await page.evaluate<string[]>('Object.values(sessionStorage)')).toEqual([adminKey]);
    // The charts have data once a few blocks are final.
    await until('the charts to have bars', async () =>
      (await page.locator('rect.bar').count()) > 5 ? true : undefined,
    );
    await screenshot(page, '02-overview');
  });

  it('given node-3 killed, should show its delegate’s missed slot in the schedule and the missed-slot list', async () => {
    const [absent] = HOSTING['node-3']!;
    const before = await status();
    await network.node('node-3').kill();
    // Missed after the kill (it may have missed a slot while the network was starting, too).
    const slot = await until('a missed slot of node-3’s delegate in the console', async () => {
      const rows = await page.locator(`[data-testid="missed-slot"][data-delegate="${absent}"]`).all();
      for (const row of rows) {
        const missed = BigInt((await row.getAttribute('data-slot')) ?? '0');
        if (missed > BigInt(before.final.slot)) {
          return missed;
        }
      }
      return undefined;
    });
    expect(slot).toBeGreaterThan(BigInt(before.final.slot));
    // And in the schedule (the last or the current round), its cell is a missed one.
    await page
      .locator(`[data-testid="schedule"] [data-state="missed"][data-producer="${absent}"]`)
      .first()
      .waitFor({ timeout: 30_000 });
    // The round two after the miss is elected without it, and its schedule says why.
    await page.locator('[data-testid="dropped"]', { hasText: absent }).first().waitFor({ timeout: 90_000 });
    await screenshot(page, '03-missed-slot');
  });

  it('given verify chain pressed, should show that the chain holds', async () => {
    await page.getByTestId('verify-button').click();
    const result = page.getByTestId('verify-result');
    await result.waitFor({ timeout: 60_000 });
    expect(await result.getAttribute('data-ok')).toBe('true');
    expect(await result.textContent()).toMatch(/The chain holds\. [\d,]+ blocks/);
    await result.scrollIntoViewIfNeeded();
    await screenshot(page, '04-verify-chain');
  });

  it('given a tampered report and the grid operator’s contract result for it, should show the re-upload alarm', async () => {
    const meter = meters[0]!;
    const meterId = meter.spec.meterId;
    const now = Date.now();
    // A compromised meter: its share for the operator is altered, its signature holds (test/support/forgery).
    const tampered = corruptShareAndSign(
      SystemParams.fromJSON(consortium.genesis.systemParams),
      meter.key,
      meter.reporter.report(simulator.reading(meterId, now), now),
      OPERATOR_RECEIVER,
    );
    const answer = await new NodeSubmitter(nodeUrl()).submitBatch([tampered]);
    expect(answer.body).toMatchObject({ accepted: 1 });
    await until('the tampered report to be final', async () => {
      const response = await fetch(`${nodeUrl()}/reports/${tampered.idHex}`);
      return response.ok && ((await response.json()) as { status: string }).status === 'final'
        ? true
        : undefined;
    });
    // What the operator's receiver does when the share does not open (apps/receiver feedback-contract):
    // the feedback contract on tampered: true, the result signed by its organisation, sent to the node.
    const contract = compileContract(
      instantiateContract(GRID_OPERATOR_FEEDBACK_CONTRACT, { owner: ORGS.operator }),
    );
    const input = {
      prepaid: false,
      prepaid_balance: 0,
      prepaid_low_level: 5,
      arrears: 0,
      arrears_level: 20,
      serious_arrears_level: 200,
      threshold_value: 5,
      latest_price: 0.27,
      tampered: true,
      meter_value: 0,
    };
    const trigger = `report:${tampered.idHex}`;
    const evaluation = contract.evaluate(meterId, input, trigger);
    const result = Transaction.sign(
      {
        chainId: consortium.genesis.chainId,
        kind: 'contract.result',
        sender: ORGS.operator,
        timestamp: Date.now(),
        body: {
          receiverId: OPERATOR_RECEIVER,
          results: [
            {
              contractId: contract.contract.id,
              contractVersion: contract.contract.version,
              meterId,
              trigger,
              input,
              resultHash: evaluation.resultHash,
              actions: evaluation.result.functions.flatMap((f) =>
                f.actions.map((a) => ({ id: a.actionId, type: a.type, message: a.message })),
              ),
            },
          ],
        },
      },
      consortium.organisationKeys.get(ORGS.operator)!,
    );
    const submitted = await fetch(`${nodeUrl()}/transactions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(result.toJSON()),
    });
    expect(submitted.status).toBe(202);

    await page.getByRole('button', { name: /^Alarms/ }).click();
    const alarm = page.locator(
      `[data-testid="alarm-row"][data-type="re-upload-alarm"][data-meter="${meterId}"]`,
    );
    await alarm.waitFor({ timeout: 60_000 });
    expect(await alarm.textContent()).toContain('Data has been tampered with, please re-upload');
    // The routine half of the result (the cost function's latest price) is not an alarm.
    expect(await page.locator('[data-testid="alarm-row"][data-type="report-price"]').count()).toBe(0);
    await screenshot(page, '05-alarm');
  });

  it('given a failed job in the node’s queue, should list it and retry it from the console', async () => {
    const connection = { host: '127.0.0.1', port: 6379 };
    const prefix = `${queuePrefix}-node-1`;
    const queue = new Queue(QueueName.NodeJobs, { connection, prefix });
    const worker = new Worker(
      QueueName.NodeJobs,
      () => Promise.reject(new Error('projection store unreachable')),
      { connection, prefix },
    );
    try {
      await queue.add(
        'rebuild-projection',
        { projection: 'journal-stats' },
        { jobId: 'console-test-1', attempts: 1 },
      );
      await until('the job to fail', async () => ((await queue.getFailedCount()) === 1 ? true : undefined));
      // No worker may take it again before the console's retry is seen.
      await worker.close();

      await page.getByRole('button', { name: /^Queues/ }).click();
      const failed = page.locator('[data-testid="failed-job"][data-job="console-test-1"]');
      await failed.waitFor({ timeout: 20_000 });
      expect(await failed.textContent()).toContain('projection store unreachable');
      await screenshot(page, '06-queues-failed-job');
      await failed.getByTestId('retry-job').click();
      await failed.waitFor({ state: 'detached', timeout: 20_000 });
      expect(await queue.getJobState('console-test-1')).toBe('waiting');
      await page
        .locator(`[data-testid="queue-${QueueName.NodeJobs}"] [data-testid="count-waiting"]`)
        .filter({ hasText: '1' })
        .waitFor({ timeout: 20_000 });
    } finally {
      await worker.close();
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
    }
  });

  it('given a search, should find the meter and show its registration', async () => {
    const meterId = meters[1]!.spec.meterId;
    await page.getByRole('button', { name: 'Meters & receivers' }).click();
    await page.getByTestId('meter-search').fill(meterId);
    const row = page.locator('[data-testid="meter-row"]', { hasText: meterId });
    await row.waitFor();
    await until('the search to narrow the list to one meter', async () =>
      (await page.locator('[data-testid="meter-row"]').count()) === 1 ? true : undefined,
    );
    await row.getByRole('button', { name: meterId }).click();
    const detail = page.getByTestId('meter-detail');
    await detail.getByText('owner 1').waitFor();
    expect(await page.getByTestId('receivers').textContent()).toContain(OPERATOR_RECEIVER);
    await screenshot(page, '07-meters');
  });

  it('given bad query parameters, the console API should answer 400 naming the field', async () => {
    const call = async (pathname: string) => {
      const response = await fetch(`${nodeUrl()}${pathname}`, {
        headers: { authorization: `Bearer ${adminKey}` },
      });
      return { status: response.status, body: (await response.json()) as { message: string } };
    };
    const invalid = (parameter: string) => ({
      status: 400,
      body: { code: 'REQUEST.INVALID_PARAMETER', message: new RegExp(`^${parameter} must be `) },
    });
    expect(await call('/admin/alarms?limit=0')).toMatchObject(invalid('limit'));
    expect(await call('/admin/alarms?cursor=tomorrow')).toMatchObject(invalid('cursor'));
    expect(await call('/admin/alarms?limit=5&limit=6')).toMatchObject(invalid('limit'));
    expect(await call('/admin/charts?blocks=5000')).toMatchObject(invalid('blocks'));
    expect(await call('/admin/charts?minutes=soon')).toMatchObject(invalid('minutes'));
    expect(await call('/admin/standing?rounds=0')).toMatchObject(invalid('rounds'));
    expect(await call('/admin/meters?status=lost')).toMatchObject(invalid('status'));
    expect(await call('/admin/meters?cursor=%20x')).toMatchObject(invalid('cursor'));
    expect(await call('/admin/queues?failed=-1')).toMatchObject(invalid('failed'));
    const retry = await fetch(`${nodeUrl()}/admin/queues/nope/retry-failed`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminKey}` },
    });
    expect({ status: retry.status, body: await retry.json() }).toMatchObject(invalid('queue'));
    // The console's files are served from their folder only.
    const escape = await fetch(`${nodeUrl()}/console/%2e%2e%2f%2e%2e%2fpackage.json`);
    expect(escape.status).toBe(404);
    // And without the key, nothing: the console's data is for admins only.
    expect((await fetch(`${nodeUrl()}/admin/alarms`)).status).toBe(401);
  });
});
