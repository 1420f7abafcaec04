// npm run bench:verify-chain [-- --reports N] [-- --meters N] [-- --connections N] [-- --reuse yes]
//
// verify-chain over a long chain, as issue 5 measures it: 1,000,000 reports by default. The chain is
// grown through the product's own path: a one-node consortium (one delegate, 2 s slots) takes the
// signcrypted reports of --meters meters (v = 10, m = 3, key epochs of 96) over POST /reports/batch,
// verifies, seals, certifies and finalizes them, while this process does the meters' signcryption.
// Then the node stops and `cbsg verify-chain` checks the chain from genesis alone on the machine:
// every block hash and link, producer, producer signature, quorum certificate, Merkle root and
// receiver index, and every report signature (weighted batches in the worker pool).
//
// Growing a million reports takes 40 minutes or more here. The chain is kept (database
// cbsg_bench_verify_chain, genesis under the temporary directory); `--reuse yes` verifies the chain a
// previous run left, when it holds at least --reports reports, without growing it again.
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { Client } from 'pg';

import { CONSORTIUM_FILES } from '@app/control-center';
import { initCrypto, type Report } from '@app/crypto';
import { enrolMeters, enrolStandardReceivers, type RunningService } from '@app/devnet';
import { FleetSimulator, NodeSubmitter } from '@app/meter-sdk';

import { CONSORTIUM_RECEIVERS, fleetSpecs } from './lib/consortium';
import { machineLine, parseFlags, printSummary, printTable } from './lib/harness';
import { SINGLE_NODE_OWNERS, startSingleNode } from './lib/single-node';
import { runVerifyChain } from './lib/verify-chain';

const flags = parseFlags(process.argv.slice(2));
const REPORTS = Number(flags.extra.reports ?? 1_000_000);
const METERS = Number(flags.extra.meters ?? 500);
// Batches in flight: enough to keep the node's verification pool busy while this process signcrypts.
const CONNECTIONS = Number(flags.extra.connections ?? 6);
const REUSE = flags.extra.reuse === 'yes';
const BATCH = 100;
const PASSPHRASE = 'bench-verify-chain-passphrase';
const DB_URL =
  process.env.BENCH_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/cbsg_bench_verify_chain';
const DIR = path.join(tmpdir(), 'cbsg-bench-verify-chain');
const GENESIS_FILE = path.join(DIR, CONSORTIUM_FILES.genesis);
const PROGRESS_MS = 30_000;

if (!Number.isInteger(REPORTS) || REPORTS < 1 || !Number.isInteger(METERS) || METERS < 1) {
  throw new Error('--reports and --meters must be positive integers');
}

/** Reports in final blocks of the chain in `DB_URL`; 0 when there is no such database. */
async function finalReports(): Promise<number> {
  const client = new Client({ connectionString: DB_URL });
  try {
    await client.connect();
    const { rows } = await client.query<{ n: string }>(
      "SELECT count(*) AS n FROM block_transactions WHERE kind = 'report'",
    );
    return Number(rows[0]!.n);
  } catch {
    return 0;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Submits one batch as a meter gateway does (retries on network errors and back-pressure). */
async function submit(submitter: NodeSubmitter, reports: Report[]): Promise<void> {
  const result = await submitter.submitBatch(reports);
  const answer = result.body as {
    rejected?: number;
    results?: Array<{ error?: { code: string; message: string } }>;
  };
  if (!result.ok || answer.rejected !== 0) {
    const refusal = answer.results?.find((r) => r.error)?.error;
    throw new Error(
      `the node refused a batch (${result.status}): ${refusal ? `${refusal.code} ${refusal.message}` : JSON.stringify(answer)}`,
    );
  }
}

/** Grows a fresh one-node chain to `target` final reports; returns how long it took. */
async function grow(target: number): Promise<number> {
  await rm(DIR, { recursive: true, force: true });
  await mkdir(DIR, { recursive: true });
  const services: RunningService[] = [];
  try {
    const { ctx, node } = await startSingleNode({
      name: 'verify-chain',
      dir: DIR,
      passphrase: PASSPHRASE,
      databaseUrl: DB_URL,
      nodePort: 3911,
      ccPort: 3912,
      nodeEnv: { MEMPOOL_MAX_REPORTS: '200000' },
      services,
    });
    await enrolStandardReceivers(ctx, CONSORTIUM_RECEIVERS, SINGLE_NODE_OWNERS);
    const simulator = new FleetSimulator({ seed: 500, meters: METERS });
    const fleet = await enrolMeters(ctx, fleetSpecs(simulator, 'https://phones.example/owner'), {
      concurrency: 8,
    });
    console.log(`enrolled ${METERS} meters; growing the chain to ${target.toLocaleString('en-US')} reports`);

    // A long run meets the odd keep-alive socket closed by the server; resubmitting is harmless.
    const submitter = new NodeSubmitter(ctx.nodeUrl, { attempts: 10, firstDelayMs: 200, maxDelayMs: 5_000 });
    const started = performance.now();
    let sent = 0;
    let accepted = 0;
    const progress = setInterval(() => {
      void finalReports().then((final) => {
        const seconds = (performance.now() - started) / 1000;
        console.log(
          `  ${Math.round(seconds)} s: ${accepted.toLocaleString('en-US')} accepted, ${final.toLocaleString('en-US')} final (${Math.round(final / seconds)}/s)`,
        );
      });
    }, PROGRESS_MS);
    try {
      const sender = async (): Promise<void> => {
        while (sent < target) {
          const from = sent;
          const count = Math.min(BATCH, target - from);
          sent += count;
          const at = Date.now();
          const batch = Array.from({ length: count }, (_, k) => {
            const meter = fleet[(from + k) % fleet.length]!;
            return meter.reporter.report(simulator.reading(meter.spec.meterId, at), at);
          });
          await submit(submitter, batch);
          accepted += count;
        }
      };
      await Promise.all(Array.from({ length: CONNECTIONS }, sender));
      while ((await finalReports()) < target) {
        if (!node.running) {
          throw new Error(`the node exited (code ${await node.whenExited()}); log: ${node.logFile}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
    } finally {
      clearInterval(progress);
    }
    return (performance.now() - started) / 1000;
  } finally {
    for (const service of services.reverse()) {
      await service.stop();
    }
  }
}

async function main(): Promise<void> {
  console.log(`bench:verify-chain on ${machineLine()}: ${REPORTS.toLocaleString('en-US')} reports`);
  await initCrypto();
  const existing = REUSE && existsSync(GENESIS_FILE) ? await finalReports() : 0;
  let growSeconds: number | null = null;
  if (existing >= REPORTS) {
    console.log(`reusing the chain of a previous run: ${existing.toLocaleString('en-US')} reports`);
  } else {
    growSeconds = await grow(REPORTS);
  }
  const chainReports = await finalReports();
  console.log('verify-chain, alone on the machine...');
  const verify = await runVerifyChain(DB_URL, GENESIS_FILE);
  if (verify.reports !== chainReports) {
    throw new Error(`verify-chain checked ${verify.reports} reports of the ${chainReports} in the chain`);
  }
  printTable('verify-chain over a one-node chain (every check, worker pool of 2)', [
    {
      reports: verify.reports,
      'grown in s': growSeconds ?? '(reused)',
      'verified in s': verify.seconds,
      'reports/s': Math.round(verify.reports / verify.seconds),
      target: '>= 1,500',
    },
  ]);
  console.log(`\nThe chain is kept for --reuse yes: ${DB_URL}, genesis ${GENESIS_FILE}.`);
  printSummary({
    verify_chain_reports: verify.reports,
    verify_chain_reports_per_s: Math.round(verify.reports / verify.seconds),
    ...(growSeconds === null ? {} : { grow_reports_per_s: Math.round(chainReports / growSeconds) }),
  });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
