// npm run soak [-- --duration SECONDS] [-- --rate REPORTS_PER_S] [-- --meters N] [-- --keep 1]
//               [-- --profile DIR] [-- --faults none] [-- --pg-stats 1]
//
// Issue 8's soak: a devnet-like consortium (three nodes on their own databases, the control center,
// the three standard receivers) under --rate reports/s (default 400) for --duration seconds (default
// 1800), through a schedule of faults spread over the run: SIGKILL of a producing node, SIGKILL of the
// node that just gave receipts (before it gossips them), Postgres restarted under a node, Redis stopped
// for 30 s, a receiver SIGKILLed mid-block. Then every receipt is looked for in every node's final
// chain, each chain is verified (`cbsg verify-chain`), the chains are compared, and each receiver's
// readings are checked against the reports of its own in the chain. Exits non-zero on any lost or
// duplicated receipt or any failed check. The core is bench/lib/soak.ts (shared with the CI test
// test/faults/faults-under-load.e2e-spec.ts).
import path from 'node:path';

import { machineLine, parseFlags, printSummary } from './lib/harness';
import { printSoakReport, runSoak, STANDARD_SCHEDULE } from './lib/soak';

const flags = parseFlags(process.argv.slice(2), 1800);
const RATE = Number(flags.extra.rate ?? 400);
const METERS = Number(flags.extra.meters ?? 300);
const PG = process.env.BENCH_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

function sharedDatabase(role: string): string {
  const url = new URL(PG);
  url.pathname = `/cbsg_soak_${role}`;
  return url.toString();
}

async function main(): Promise<void> {
  console.log(
    `soak on ${machineLine()}: ${RATE} reports/s for ${flags.durationSeconds} s, ${METERS} meters, 21 delegates, 2 s slots`,
  );
  const slotMs = 2_000;
  const result = await runSoak({
    rate: RATE,
    durationSeconds: flags.durationSeconds,
    meters: METERS,
    delegates: 21,
    slotMs,
    sharedDatabase,
    ports: {
      nodes: [3931, 3932, 3933],
      controlCenter: 3939,
      receivers: [3941, 3942, 3943],
      phones: 3949,
      redis: 6390,
      postgres: Number(flags.extra['postgres-port'] ?? 5440),
    },
    redisDownMs: 30_000,
    // --faults none: the same load without faults, to profile or to see the fault-free ceiling.
    schedule: flags.extra.faults === 'none' ? [] : STANDARD_SCHEDULE,
    keep: flags.extra.keep !== undefined,
    ...(flags.extra.profile ? { profileDir: path.resolve(flags.extra.profile) } : {}),
    statementStats: flags.extra['pg-stats'] !== undefined,
    log: (line) => console.log(`  ${line}`),
  });
  printSoakReport(result, slotMs);
  console.log(
    '\nTargets (issue 8): nothing lost or duplicated; verify-chain passes and the chains agree; each receiver processed its reports once; recovery within 2 rounds; intake after faults >= 90% of fault-free.',
  );
  process.exitCode = result.ok ? 0 : 1;
  printSummary({
    receipts: result.receipts,
    included: result.included,
    lost: result.lost,
    duplicated: result.duplicated,
    recovery_rounds_max: result.recoveryRoundsMax,
    throughput_after_fault_ratio: result.throughputAfterFaultRatio,
    offered: result.offered,
    refused_429: result.refusals.busy429,
    refused_503: result.refusals.full503,
    refused_unavailable: result.refusals.unavailable,
    no_answer: result.refusals.failedRequests,
    refused_final: result.refusals.other,
    receipts_at_risk: result.receiptsAtRisk,
    fault_free_intake_per_s: result.faultFreeIntake,
    final_reports_per_s: result.finalReportsPerS,
    contract_lag_after_load_s: result.contractLagSeconds ?? NaN,
    contract_results_final_after_load_s: result.contractOnChainLagSeconds ?? NaN,
    verify_chain_ok: result.verifyChain.every((v) => v.ok) ? 1 : 0,
    chains_agree: result.chainsAgree ? 1 : 0,
    receivers_ok: result.receivers.every((r) => r.ok) ? 1 : 0,
    unexpected_exits: result.unexpectedExits.length,
    rate: RATE,
    duration_s: flags.durationSeconds,
  });
}

process.on('SIGINT', () => process.exit(130));
main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
