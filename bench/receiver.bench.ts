// npm run bench:receiver [-- --duration SECONDS] [-- --meters N]
//
// A receiver's work per report share, as issue 6 measures it, with real keys, real reports and the
// real Postgres: open the share (the crypto worker pool), decode its values, run the grid operator's
// feedback contract (Algorithm 1) on it, and write the readings in bulk, as apps/receiver does.
//   1. key epochs of 96 reports (one pairing per 96 shares): shares/s, both cores;
//   2. the paper's per-report mode (one pairing per share): shares/s, both cores;
//   3. scale-out: the same decryption as BullMQ jobs taken by 1, then 2, worker processes;
//   4. contract evaluation alone: meter evaluations/s.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { Pool } from 'pg';

import {
  benchmarkContractEvaluations,
  compileContract,
  GRID_OPERATOR_FEEDBACK_CONTRACT,
  instantiateContract,
} from '@app/contracts';
import {
  CryptoPool,
  extractPartialKey,
  generateKeyPair,
  initCrypto,
  MeterPrivateKey,
  MeterSigncrypter,
  precomputeSigningTables,
  ReceiverPublicKey,
  type Report,
  setupSystem,
  type SharingPolicy,
  toHex,
} from '@app/crypto';
import { prepareDatabase } from '@app/devnet';
import { decodeDimension, encodeDimension } from '@app/meter-sdk';

import { machineLine, parseFlags, printSummary, printTable } from './lib/harness';

const flags = parseFlags(process.argv.slice(2), 10);
const METERS = Number(flags.extra.meters ?? 200);
const CHUNK = 480;
const DB_URL = process.env.BENCH_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/cbsg_bench_receiver';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const RECEIVER = 'operator-billing';
const DIMENSIONS = 10;

function world() {
  const { params, masterKey } = setupSystem();
  const receivers = [RECEIVER, 'cc-analytics', 'supplier-maintenance'].map((id) => {
    const kp = generateKeyPair();
    return {
      id,
      secret: kp.secret,
      pub: ReceiverPublicKey.register(params, { id, publicKey: kp.publicKey }),
    };
  });
  const meters = Array.from({ length: METERS }, (_, i) => {
    const id = `meter-${String(i).padStart(6, '0')}`;
    const own = generateKeyPair();
    return MeterPrivateKey.assemble(params, own.secret, extractPartialKey(masterKey, params, id));
  });
  const policy: SharingPolicy = {
    dimensionCount: DIMENSIONS,
    receivers: [
      { receiver: receivers[0]!.pub, dimensions: [0, 1, 2] },
      { receiver: receivers[1]!.pub, dimensions: [0, 1, 2, 3, 4, 5, 6] },
      { receiver: receivers[2]!.pub, dimensions: [7, 8, 9] },
    ],
  };
  receivers.forEach((r) => r.pub.precompute());
  precomputeSigningTables(params);
  return { params, receivers, meters, policy };
}

type World = ReturnType<typeof world>;

function makeReports(w: World, count: number, maxReports: number): Report[] {
  const signers = w.meters.map((key) =>
    MeterSigncrypter.create(w.params, key, w.policy, {
      epoch: { maxReports, maxAgeMs: 86_400_000 },
    }),
  );
  const start = Date.now();
  return Array.from({ length: count }, (_, k) => {
    const reading = Array.from({ length: DIMENSIONS }, (_, d) => encodeDimension(0.1 * ((k + d) % 50)));
    return signers[k % signers.length]!.signcrypt(reading, start + k);
  });
}

const contract = compileContract(
  instantiateContract(GRID_OPERATOR_FEEDBACK_CONTRACT, { owner: 'grid-operator' }),
);
const ACCOUNT = {
  threshold_value: 2.5,
  prepaid: false,
  prepaid_balance: 0,
  prepaid_low_level: 5,
  arrears: 12,
  arrears_level: 20,
  serious_arrears_level: 200,
  latest_price: 0.27,
};

/** Opens, decodes, evaluates and writes shares, chunk by chunk, until the reports or the time run out. */
async function pipeline(
  w: World,
  db: Pool,
  reports: Report[],
  receiverId: string,
  seconds: number,
): Promise<{ shares: number; seconds: number }> {
  const crypto = await CryptoPool.start(w.params);
  const receiver = await crypto.loadReceiverKey(RECEIVER, w.receivers[0]!.secret);
  let done = 0;
  const started = performance.now();
  // As the receiver's follower does: the next chunk is opened in the pool while this one is decoded,
  // evaluated and written.
  const opening = (from: number) => {
    const promise = crypto.openShares(receiver, reports.slice(from, from + CHUNK));
    promise.catch(() => undefined);
    return promise;
  };
  let next = opening(0);
  try {
    for (let i = 0; i < reports.length && performance.now() - started < seconds * 1000; i += CHUNK) {
      const chunk = reports.slice(i, i + CHUNK);
      const outcomes = await next;
      next = opening(i + CHUNK);
      const rows: Array<{ id: Buffer; meter: string; nonce: string; at: Date; values: string }> = [];
      for (const [k, outcome] of outcomes.entries()) {
        if (!outcome.ok) {
          throw new Error(`share ${k} did not open: ${outcome.error.code}`);
        }
        const values = outcome.share.dimensions.map((d) => decodeDimension(d.value));
        const evaluation = contract.evaluate(
          outcome.share.meterId,
          { ...ACCOUNT, tampered: false, meter_value: values[0] },
          `report:${chunk[k]!.idHex}`,
        );
        rows.push({
          id: Buffer.from(chunk[k]!.id),
          meter: outcome.share.meterId,
          nonce: outcome.share.nonce.toString(),
          at: new Date(outcome.share.timestamp),
          values: JSON.stringify({ values, result: evaluation.resultHash }),
        });
      }
      await db.query(
        `INSERT INTO receiver_readings (receiver_id, report_id, meter_id, nonce, read_at, height, position, dimensions)
         SELECT $1, r.id, r.meter, r.nonce, r.at, 0, r.pos, r.dims
         FROM unnest($2::bytea[], $3::text[], $4::numeric[], $5::timestamptz[], $6::int[], $7::jsonb[])
              AS r(id, meter, nonce, at, pos, dims)
         ON CONFLICT DO NOTHING`,
        [
          receiverId,
          rows.map((r) => r.id),
          rows.map((r) => r.meter),
          rows.map((r) => r.nonce),
          rows.map((r) => r.at),
          rows.map((_, k) => i + k),
          rows.map((r) => r.values),
        ],
      );
      done += chunk.length;
    }
    // Taken before the pool closes: closing waits for the chunk opened ahead, which is not counted.
    return { shares: done, seconds: (performance.now() - started) / 1000 };
  } finally {
    await crypto.close();
  }
}

/** Starts `count` decryption worker processes on `queue` and waits until each says it is ready. */
async function startWorkers(w: World, count: number, queue: string): Promise<ChildProcess[]> {
  const children = Array.from({ length: count }, () =>
    spawn(process.execPath, ['-r', '@swc-node/register', 'bench/lib/decrypt-worker.ts'], {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { ...process.env, REDIS_URL },
    }),
  );
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve, reject) => {
          child.once('exit', (code) => reject(new Error(`a decrypt worker exited (${code})`)));
          createInterface({ input: child.stdout }).once('line', () => resolve());
          child.stdin.end(
            JSON.stringify({
              params: w.params.toJSON(),
              receiverId: RECEIVER,
              secret: toHex(w.receivers[0]!.secret.exposeBytes()),
              queue,
              prefix: 'cbsg-bench',
            }),
          );
        }),
    ),
  );
  return children;
}

/** Time for `workers` processes to drain the reports as jobs of 100. */
async function scaleOutRun(w: World, reports: Report[], workers: number): Promise<number> {
  const name = `decrypt-${process.pid}-${workers}`;
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const queue = new Queue(name, { connection, prefix: 'cbsg-bench' });
  const children = await startWorkers(w, workers, name);
  try {
    const jobs = [];
    for (let i = 0; i < reports.length; i += 100) {
      jobs.push({
        name: 'open-shares',
        data: { reports: reports.slice(i, i + 100).map((r) => Buffer.from(r.bytes).toString('base64')) },
        opts: { jobId: `chunk-${i}`, removeOnComplete: false },
      });
    }
    const started = performance.now();
    await queue.addBulk(jobs);
    for (;;) {
      const counts = await queue.getJobCounts('completed', 'failed');
      if ((counts.failed ?? 0) > 0) {
        throw new Error(`${counts.failed} decryption job(s) failed`);
      }
      if (counts.completed === jobs.length) {
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return (performance.now() - started) / 1000;
  } finally {
    children.forEach((child) => child.kill('SIGTERM'));
    await queue.obliterate({ force: true });
    await queue.close();
    await connection.quit();
  }
}

async function main(): Promise<void> {
  console.log(`bench:receiver on ${machineLine()}: ${flags.durationSeconds} s per phase, ${METERS} meters`);
  await initCrypto();
  const w = world();
  await prepareDatabase(DB_URL, { fresh: true });
  const db = new Pool({ connectionString: DB_URL, max: 2 });
  try {
    const epochReports = makeReports(w, 4_000 * flags.durationSeconds, 96);
    const freshReports = makeReports(w, 700 * flags.durationSeconds, 1);
    console.log(
      `signcrypted ${epochReports.length.toLocaleString('en-US')} epoch and ${freshReports.length.toLocaleString('en-US')} per-report reports`,
    );
    const epoch = await pipeline(w, db, epochReports, 'bench-epoch', flags.durationSeconds);
    const fresh = await pipeline(w, db, freshReports, 'bench-fresh', flags.durationSeconds);
    const scaleReports = freshReports.slice(0, Math.min(freshReports.length, 300 * flags.durationSeconds));
    const one = await scaleOutRun(w, scaleReports, 1);
    const two = await scaleOutRun(w, scaleReports, 2);
    const evals = benchmarkContractEvaluations({
      contract,
      inputs: [0.4, 1.2, 3.1, 0.9].map((v) => ({ ...ACCOUNT, tampered: false, meter_value: v })),
      evaluations: 20_000 * flags.durationSeconds,
      now: () => performance.now(),
    });
    const rate = (r: { shares: number; seconds: number }) => r.shares / r.seconds;
    printTable('A receiver: open, decode, Algorithm 1, write (both cores, Postgres)', [
      {
        mode: 'key epochs of 96 reports',
        shares: epoch.shares,
        'shares/s': Math.round(rate(epoch)),
        target: '>= 3,000',
      },
      {
        mode: 'per-report (fresh D)',
        shares: fresh.shares,
        'shares/s': Math.round(rate(fresh)),
        target: '>= 500',
      },
    ]);
    printTable('Scale-out: per-report decryption as BullMQ jobs of 100', [
      {
        'worker processes': 1,
        shares: scaleReports.length,
        seconds: one,
        'shares/s': Math.round(scaleReports.length / one),
      },
      {
        'worker processes': 2,
        shares: scaleReports.length,
        seconds: two,
        'shares/s': Math.round(scaleReports.length / two),
      },
    ]);
    printTable('Contract evaluation (Algorithm 1, one meter each)', [
      {
        evaluations: evals.evaluations,
        'evaluations/s': Math.round(evals.evaluationsPerSecond),
        target: '>= 5,000',
      },
    ]);
    console.log(
      '\nTargets (issue 6): epochs >= 3,000 shares/s; per-report >= 500 shares/s; 2 workers >= 1.7x 1; contracts >= 5,000/s.',
    );
    printSummary({
      epoch_shares_per_s: Math.round(rate(epoch)),
      fresh_shares_per_s: Math.round(rate(fresh)),
      scaleout_speedup: one / two,
      contract_evals_per_s: Math.round(evals.evaluationsPerSecond),
    });
  } finally {
    await db.end();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
