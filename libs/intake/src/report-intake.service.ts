import { createHash } from 'node:crypto';

import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { Pool } from 'pg';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

import { APP_CONFIG, type AppConfig } from '@app/config';
import { CryptoError, type RegisteredMeter, Report } from '@app/crypto';
import { DomainEvent, EventStore, JournalEvent } from '@app/event-store';
import { CLOCK, type Clock } from '@app/kernel';
import { PG_POOL } from '@app/persistence';
import { type CachedMeter, RegistryCache } from '@app/registry';

import {
  IntakeBusyError,
  MempoolFullError,
  NodeCatchingUpError,
  REFUSAL,
  type RefusalCode,
} from './intake.errors';
import { recordAndPool } from './report-pool';
import { ReportVerifier } from './report-verifier';

export interface ReportReceipt {
  /** The report's id (tagged SHA-256 of its canonical encoding), as blocks and proofs name it. */
  reportId: string;
  /** Plain SHA-256 of the canonical encoding, for clients that keep the bytes. */
  hash: string;
  meterId: string;
  nonce: string;
  /** accepted: verified and durable in this node's mempool, waiting for a block. */
  status: 'accepted';
  /** True when this exact report had been accepted before (submission is idempotent). */
  duplicate: boolean;
}

export type IntakeOutcome =
  { ok: true; receipt: ReportReceipt } | { ok: false; error: { code: RefusalCode; message: string } };

export interface ReportAccepted {
  reportId: string;
  meterId: string;
  nonce: string;
  timestamp: number;
  receivers: string[];
  bytes: number;
}

@DomainEvent('intake.report-accepted', 1)
export class ReportAcceptedEvent extends JournalEvent<ReportAccepted> {}

export type ReportSource = 'meter' | 'peer';

/** Why meters should come back later, and when. */
export interface IntakeHold {
  reason: string;
  retryAfterSeconds: number;
}

interface Candidate {
  report: Report;
  meter: RegisteredMeter;
  source: ReportSource;
  resolve: (outcome: IntakeOutcome) => void;
}

/** Reports verified together: enough to fill both workers, small enough to keep latency low. */
const VERIFY_BATCH = 768;
/**
 * A batch spends part of its time on the replay lookup and on its write, with the workers idle; with
 * two batches only, that idle time cost a fifth of intake (bench:intake). Four keep the workers fed.
 */
const VERIFY_BATCHES_IN_FLIGHT = 4;
const POINT_ERROR = /^CRYPTO\.(POINT_|ENCODING_|MALFORMED)/;

/**
 * Report intake (DESIGN.md sections 2-3; issue 4): cheap checks first, per request (schema, time
 * window, meter, receivers, replay), then the signature check batched across concurrent requests in
 * the crypto worker pool (weighted batch verification, bisection on failure), then one durable write
 * per verified batch (replay record, mempool, journal events) before any receipt is given.
 *
 * Bounded everywhere: a full verification queue answers 429, a full mempool 503, both with a
 * Retry-After; nothing waits in an unbounded in-memory queue.
 */
@Injectable()
export class ReportIntakeService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(ReportIntakeService.name);
  private readonly queue: Candidate[] = [];
  private queued = 0;
  private verifying = 0;
  private mempoolDepth = 0;
  /**
   * Room promised to requests still being checked: taken at entry, before their first await, so that
   * requests arriving together cannot all fit in the same room. Given back as reports are refused,
   * queued (the queue's part becomes `queued`) or answered.
   */
  private queueReserved = 0;
  private mempoolReserved = 0;
  private depthTimer: NodeJS.Timeout | undefined;
  private readonly acceptedListeners: Array<(reports: Report[], source: ReportSource) => void> = [];
  private readonly holds: Array<() => IntakeHold | undefined> = [];
  private readonly inBlocks: Array<(reportIdHex: string) => boolean> = [];

  private readonly received: Counter;
  private readonly accepted: Counter;
  private readonly rejected: Counter<'reason'>;
  private readonly batchSize: Histogram;
  private readonly verifySeconds: Histogram;
  private readonly stageSeconds: Histogram<'stage'>;
  private readonly depthGauge: Gauge;
  private readonly queueGauge: Gauge;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(PG_POOL) private readonly db: Pool,
    @Inject(CLOCK) private readonly clock: Clock,
    private readonly store: EventStore,
    private readonly registry: RegistryCache,
    private readonly verifier: ReportVerifier,
    metrics: Registry,
  ) {
    this.received = new Counter({
      name: 'cbsg_reports_received_total',
      help: 'Reports received',
      registers: [metrics],
    });
    this.accepted = new Counter({
      name: 'cbsg_reports_accepted_total',
      help: 'Reports accepted into the mempool',
      registers: [metrics],
    });
    this.rejected = new Counter({
      name: 'cbsg_reports_rejected_total',
      help: 'Reports refused, by reason',
      labelNames: ['reason'],
      registers: [metrics],
    });
    this.batchSize = new Histogram({
      name: 'cbsg_verification_batch_size',
      help: 'Reports per verification batch',
      buckets: [1, 8, 32, 128, 256, 512, 768, 1024],
      registers: [metrics],
    });
    this.verifySeconds = new Histogram({
      name: 'cbsg_verification_seconds',
      help: 'Time to verify one batch in the worker pool',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2],
      registers: [metrics],
    });
    this.stageSeconds = new Histogram({
      name: 'cbsg_intake_stage_seconds',
      help: 'Where intake time goes: per-request checks, batch verification, batch write',
      labelNames: ['stage'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2],
      registers: [metrics],
    });
    this.depthGauge = new Gauge({
      name: 'cbsg_mempool_reports',
      help: 'Reports waiting for a block',
      registers: [metrics],
    });
    this.queueGauge = new Gauge({
      name: 'cbsg_intake_queue',
      help: 'Reports waiting for verification',
      registers: [metrics],
    });
  }

  async onModuleInit(): Promise<void> {
    await this.refreshDepth();
    this.depthTimer = setInterval(() => void this.refreshDepth().catch(() => undefined), 2_000);
    this.depthTimer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.depthTimer);
  }

  /** Waiting for verification, and waiting for a block. */
  load(): { queued: number; mempool: number } {
    return { queued: this.queued, mempool: this.mempoolDepth };
  }

  /** Called with the reports this node accepts (not duplicates), after they are durable. */
  onAccepted(listener: (reports: Report[], source: ReportSource) => void): void {
    this.acceptedListeners.push(listener);
  }

  /**
   * While `check` names a reason, meters' reports are refused with NodeCatchingUpError (503 and
   * Retry-After), before any work is spent on them. Peers' gossip still goes through: those reports
   * come in blocks anyway, and checking them early makes those blocks cheaper.
   */
  holdMetersWhile(check: () => IntakeHold | undefined): void {
    this.holds.push(check);
  }

  /**
   * Reports gossiped by a peer that this node holds in a block already (checked when the block was,
   * `held`) are answered as duplicates, without a second signature check. Their sender keeps them in
   * its mempool until they are final, so a block that loses a fork does not lose them.
   */
  skipPeerReportsIn(held: (reportIdHex: string) => boolean): void {
    this.inBlocks.push(held);
  }

  private heldInABlock(report: Report, source: ReportSource): boolean {
    return source === 'peer' && this.inBlocks.some((held) => held(report.idHex));
  }

  /** Reports gossiped by a peer node, already in binary form: the same checks as for a meter. */
  submitFromPeer(reports: readonly Uint8Array[]): Promise<IntakeOutcome[]> {
    return this.submit(reports, 'peer');
  }

  /**
   * Takes reports (JSON form from meters, binary from peers); one outcome per input, in order.
   * Throws only for back-pressure.
   */
  async submit(values: readonly unknown[], source: ReportSource = 'meter'): Promise<IntakeOutcome[]> {
    // Everything up to the reservation is synchronous: no other request can check the same room.
    const { mempoolMaxReports, verifyQueueMax } = this.config.intake;
    if (this.mempoolDepth + this.mempoolReserved + values.length > mempoolMaxReports) {
      throw new MempoolFullError(5);
    }
    if (this.queued + this.queueReserved + values.length > verifyQueueMax) {
      throw new IntakeBusyError(1);
    }
    if (source === 'meter') {
      for (const check of this.holds) {
        const hold = check();
        if (hold) {
          throw new NodeCatchingUpError(hold.reason, hold.retryAfterSeconds);
        }
      }
    }
    const held = { queue: values.length, mempool: values.length };
    this.queueReserved += held.queue;
    this.mempoolReserved += held.mempool;
    try {
      return await this.admit(values, source, held);
    } finally {
      // What is still held: the mempool's part of every report (those written now count in
      // mempoolDepth), and the queue's part of any report an error stopped before the queue.
      this.queueReserved -= held.queue;
      this.mempoolReserved -= held.mempool;
    }
  }

  private async admit(
    values: readonly unknown[],
    source: ReportSource,
    held: { queue: number; mempool: number },
  ): Promise<IntakeOutcome[]> {
    this.received.inc(values.length);
    const outcomes = new Array<IntakeOutcome | undefined>(values.length);
    const refuse = (i: number, code: RefusalCode, message: string) => {
      outcomes[i] = { ok: false, error: { code, message } };
      this.rejected.inc({ reason: code });
      // A report refused here takes no room in the queue or the mempool.
      held.queue -= 1;
      this.queueReserved -= 1;
      held.mempool -= 1;
      this.mempoolReserved -= 1;
    };

    const stopChecks = this.stageSeconds.startTimer({ stage: 'checks' });
    // 1. Structure and time window.
    const parsed: Array<{ index: number; report: Report }> = [];
    const now = this.clock.now().getTime();
    values.forEach((value, index) => {
      let report: Report;
      try {
        report = value instanceof Uint8Array ? Report.decode(value) : Report.fromJSON(value);
      } catch (error) {
        if (error instanceof CryptoError) {
          refuse(index, REFUSAL.malformed, error.message);
          return;
        }
        throw error;
      }
      if (report.timestamp < now - this.config.intake.acceptWindowMs) {
        refuse(
          index,
          REFUSAL.stale,
          `timestamp ${new Date(report.timestamp).toISOString()} is older than ${this.config.intake.acceptWindowMs} ms`,
        );
      } else if (report.timestamp > now + this.config.intake.futureSkewMs) {
        refuse(
          index,
          REFUSAL.future,
          `timestamp ${new Date(report.timestamp).toISOString()} is in the future`,
        );
      } else {
        parsed.push({ index, report });
      }
    });

    // 2. Meter and receivers, from the registry cache.
    const meters = await this.registry.meters(parsed.map((p) => p.report.meterId));
    const known: Array<{ index: number; report: Report; meter: RegisteredMeter }> = [];
    for (const { index, report } of parsed) {
      const problem = await this.checkParties(report, meters.get(report.meterId) ?? null);
      if (problem) {
        refuse(index, problem.code, problem.message);
      } else {
        known.push({ index, report, meter: meters.get(report.meterId)!.key! });
      }
    }

    // 3. Replays within the request; those against what this node recorded are found per batch.
    const seen = new Map<string, string>();
    const fresh: typeof known = [];
    for (const candidate of known) {
      const { report } = candidate;
      const key = `${report.meterId}\u0000${report.nonce}`;
      const sameRequest = seen.get(key);
      if (sameRequest === undefined || sameRequest === report.idHex) {
        // The same report twice gets the same receipt twice.
        seen.set(key, report.idHex);
        fresh.push(candidate);
      } else {
        refuse(
          candidate.index,
          REFUSAL.duplicateInBatch,
          `nonce ${report.nonce} of ${report.meterId} is used twice in this request`,
        );
      }
    }

    stopChecks();
    // 4. Signature (batched with other requests' reports) and durable write.
    const pending = fresh.map(
      (candidate) =>
        new Promise<IntakeOutcome>((resolve) => {
          this.queue.push({ report: candidate.report, meter: candidate.meter, source, resolve });
          this.queued += 1;
          held.queue -= 1;
          this.queueReserved -= 1;
        }),
    );
    this.pump();
    const verified = await Promise.all(pending);
    fresh.forEach((candidate, k) => {
      outcomes[candidate.index] = verified[k];
    });
    return outcomes as IntakeOutcome[];
  }

  private async checkParties(
    report: Report,
    meter: CachedMeter | null,
  ): Promise<{ code: RefusalCode; message: string } | undefined> {
    if (!meter) {
      return { code: REFUSAL.unknownMeter, message: `meter ${report.meterId} is not registered` };
    }
    if (meter.status === 'revoked') {
      return { code: REFUSAL.meterRevoked, message: `meter ${report.meterId} is revoked` };
    }
    if (meter.status !== 'active' || !meter.key) {
      return { code: REFUSAL.meterNotActive, message: `meter ${report.meterId} has no partial key yet` };
    }
    for (const share of report.receivers) {
      const receiver = await this.registry.receiver(share.id);
      if (!receiver || receiver.status === 'revoked') {
        return {
          code: REFUSAL.unknownReceiver,
          message: `a share is addressed to ${share.id}, which is not a registered receiver`,
        };
      }
      if (!Buffer.from(share.keyFingerprint).equals(Buffer.from(receiver.key.fingerprint))) {
        return {
          code: REFUSAL.policyMismatch,
          message: `the share for ${share.id} is keyed to another key than the registered one`,
        };
      }
    }
    const policy = new Set(meter.receivers);
    const addressed = new Set(report.receivers.map((r) => r.id));
    if (policy.size !== addressed.size || [...policy].some((id) => !addressed.has(id))) {
      return {
        code: REFUSAL.policyMismatch,
        message: `the report is for ${[...addressed].join(', ')}; the meter's policy says ${[...policy].join(', ')}`,
      };
    }
    return undefined;
  }

  private async recordedNonces(reports: readonly Report[]): Promise<Map<string, string>> {
    if (reports.length === 0) {
      return new Map();
    }
    const { rows } = await this.db.query<{ meter_id: string; nonce: string; report_id: Buffer }>(
      `SELECT n.meter_id, n.nonce::text AS nonce, n.report_id FROM report_nonces n
       JOIN unnest($1::text[], $2::numeric[]) AS q(meter_id, nonce) ON n.meter_id = q.meter_id AND n.nonce = q.nonce`,
      [reports.map((r) => r.meterId), reports.map((r) => r.nonce.toString())],
    );
    return new Map(rows.map((r) => [`${r.meter_id}\u0000${r.nonce}`, r.report_id.toString('hex')]));
  }

  /** Starts verification batches while there is work and room. */
  private pump(): void {
    while (this.queue.length > 0 && this.verifying < VERIFY_BATCHES_IN_FLIGHT) {
      const batch = this.queue.splice(0, VERIFY_BATCH);
      this.verifying += 1;
      this.queueGauge.set(this.queue.length);
      void this.verifyAndWrite(batch).finally(() => {
        this.verifying -= 1;
        this.queued -= batch.length;
        this.pump();
      });
    }
  }

  private async verifyAndWrite(batch: Candidate[]): Promise<void> {
    try {
      // Replays against everything this node recorded, in one query for the batch, before paying
      // for verification: a resent report costs a lookup, not a pairing.
      const previous = await this.recordedNonces(batch.map((c) => c.report));
      const unseen: Candidate[] = [];
      for (const candidate of batch) {
        const r = candidate.report;
        const recorded = previous.get(`${r.meterId}\u0000${r.nonce}`);
        if (recorded === undefined && this.heldInABlock(r, candidate.source)) {
          // A block brought it while it waited here, and its check covered it.
          candidate.resolve({ ok: true, receipt: receiptOf(r, true) });
        } else if (recorded === undefined) {
          unseen.push(candidate);
        } else if (recorded === r.idHex) {
          candidate.resolve({ ok: true, receipt: receiptOf(r, true) });
        } else {
          this.rejected.inc({ reason: REFUSAL.replayed });
          candidate.resolve({
            ok: false,
            error: {
              code: REFUSAL.replayed,
              message: `nonce ${r.nonce} of ${r.meterId} was used by another report`,
            },
          });
        }
      }
      const stopVerify = this.stageSeconds.startTimer({ stage: 'verify' });
      const stop = this.verifySeconds.startTimer();
      const verdict = await this.verifier.verifyReports(
        unseen.map((c) => ({ report: c.report, meter: c.meter })),
        'intake',
      );
      stop();
      stopVerify();
      this.batchSize.observe(unseen.length);
      const valid: Candidate[] = [];
      unseen.forEach((candidate, i) => {
        const v = verdict.verdicts[i]!;
        if (v.valid) {
          valid.push(candidate);
          return;
        }
        const code = POINT_ERROR.test(v.code) ? REFUSAL.badPoint : REFUSAL.badSignature;
        this.rejected.inc({ reason: code });
        candidate.resolve({ ok: false, error: { code, message: `${v.code}: ${v.message}` } });
      });
      const stopWrite = this.stageSeconds.startTimer({ stage: 'write' });
      const written = await this.write(valid);
      stopWrite();
      for (const [candidate, outcome] of written) {
        candidate.resolve(outcome);
      }
    } catch (error) {
      // Not a verdict on the reports: a worker or the database failed. Nothing was acknowledged, so
      // the client must retry; say so rather than pretend a refusal.
      this.logger.error(
        `intake batch of ${batch.length} failed: ${(error as Error).message}`,
        (error as Error).stack,
      );
      for (const candidate of batch) {
        candidate.resolve({
          ok: false,
          error: { code: REFUSAL.unavailable, message: 'the node could not store the report; retry' },
        });
      }
    }
  }

  /** One transaction for the batch: replay record, mempool rows, journal events. */
  private async write(candidates: Candidate[]): Promise<Array<[Candidate, IntakeOutcome]>> {
    if (candidates.length === 0) {
      return [];
    }
    // The same report can appear twice (two requests at once): write it once, answer both.
    const unique = new Map<string, Candidate>();
    for (const c of candidates) {
      unique.set(c.report.idHex, unique.get(c.report.idHex) ?? c);
    }
    const reports = [...unique.values()].map((c) => c.report);
    const now = this.clock.now();
    const { result: inserted } = await this.store.transaction(async (uow) => {
      const fresh = await recordAndPool(uow.sql, reports, now);
      for (const r of reports.filter((x) => fresh.has(x.idHex))) {
        uow.append({
          streamId: `report-${r.idHex}`,
          expectedVersion: 0,
          events: [
            {
              ...ReportAcceptedEvent.create({
                reportId: r.idHex,
                meterId: r.meterId,
                nonce: r.nonce.toString(),
                timestamp: r.timestamp,
                receivers: r.receivers.map((x) => x.id),
                bytes: r.bytes.length,
              }),
              metadata: { actor: r.meterId },
            },
          ],
        });
      }
      return fresh;
    });
    this.mempoolDepth += inserted.size;
    this.depthGauge.set(this.mempoolDepth);
    this.announce(candidates.filter((c) => inserted.has(c.report.idHex) && c === unique.get(c.report.idHex)));
    const recorded =
      inserted.size === reports.length
        ? new Map<string, string>()
        : await this.recordedNonces(reports.filter((r) => !inserted.has(r.idHex)));
    return candidates.map((c) => {
      const r = c.report;
      if (inserted.has(r.idHex)) {
        this.accepted.inc();
        return [c, { ok: true, receipt: receiptOf(r, c !== unique.get(r.idHex)) }];
      }
      // Another request recorded this (meter, nonce) between our check and our write.
      const other = recorded.get(`${r.meterId}\u0000${r.nonce}`);
      if (other === r.idHex) {
        return [c, { ok: true, receipt: receiptOf(r, true) }];
      }
      this.rejected.inc({ reason: REFUSAL.replayed });
      return [
        c,
        {
          ok: false,
          error: {
            code: REFUSAL.replayed,
            message: `nonce ${r.nonce} of ${r.meterId} was used by another report`,
          },
        },
      ];
    });
  }

  private announce(accepted: readonly Candidate[]): void {
    for (const source of ['meter', 'peer'] as const) {
      const reports = accepted.filter((c) => c.source === source).map((c) => c.report);
      if (reports.length === 0) {
        continue;
      }
      for (const listener of this.acceptedListeners) {
        try {
          listener(reports, source);
        } catch (error) {
          this.logger.error(`an accepted-reports listener failed: ${(error as Error).message}`);
        }
      }
    }
  }

  private async refreshDepth(): Promise<void> {
    const { rows } = await this.db.query<{ n: string }>('SELECT count(*) AS n FROM mempool_reports');
    this.mempoolDepth = Number(rows[0]?.n ?? 0);
    this.depthGauge.set(this.mempoolDepth);
  }
}

function receiptOf(report: Report, duplicate: boolean): ReportReceipt {
  return {
    reportId: report.idHex,
    hash: createHash('sha256').update(report.bytes).digest('hex'),
    meterId: report.meterId,
    nonce: report.nonce.toString(),
    status: 'accepted',
    duplicate,
  };
}
