import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { Counter, Registry } from 'prom-client';

import { APP_CONFIG, type AppConfig } from '@app/config';
import {
  type BatchVerdict,
  CryptoPool,
  type RegisteredMeter,
  type Report,
  type ReportVerdict,
  Urgency,
} from '@app/crypto';
import { GenesisService } from '@app/registry';

/** How a check under way tells those who joined it. */
interface Waiting {
  resolve: (verdict: ReportVerdict) => void;
  reject: (error: unknown) => void;
}

/** Signatures remembered as checked: more than a few blocks' worth at the intake ceiling. */
const HELD_CAPACITY = 200_000;
const VALID: ReportVerdict = Object.freeze({ valid: true });

/**
 * The worker pool that checks report signatures (weighted batch verification in worker threads),
 * shared by intake and block validation so that both cores serve whichever needs them.
 */
@Injectable()
export class ReportVerifier implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(ReportVerifier.name);
  private pool: CryptoPool | undefined;
  private readonly verified: Counter<'purpose'>;
  /**
   * Reports whose signature held here, with the key they held under, oldest first: a report checked
   * in a block before its gossip arrived (or the other way round) is not checked again.
   */
  private readonly held = new Set<string>();
  /**
   * Checks under way, by the same keys: a block that comes while its reports' gossip is being checked
   * (blocks are pushed as soon as they are made) waits for that check instead of running its own,
   * and makes it urgent if it is still queued.
   */
  private readonly checking = new Map<string, { verdict: Promise<ReportVerdict>; urgency: Urgency }>();

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly genesis: GenesisService,
    metrics: Registry,
  ) {
    this.verified = new Counter({
      name: 'cbsg_report_signatures_checked_total',
      help: 'Report signatures checked in the worker pool, by purpose (a report should be checked once per node)',
      labelNames: ['purpose'],
      registers: [metrics],
    });
    // What the workers actually ran: requests queued together are checked as one batch.
    const poolCounter = (name: string, help: string, stat: 'batches' | 'reports') => {
      let reported = 0;
      const counter: Counter = new Counter({
        name,
        help,
        registers: [metrics],
        collect: () => {
          const now = this.pool?.verifyStats[stat] ?? 0;
          counter.inc(now - reported);
          reported = now;
        },
      });
    };
    poolCounter(
      'cbsg_crypto_batch_checks_total',
      'Weighted batch checks run in the worker pool (requests queued together are merged into one)',
      'batches',
    );
    poolCounter(
      'cbsg_crypto_batch_checked_reports_total',
      'Reports in the batch checks run in the worker pool',
      'reports',
    );
  }

  async onModuleInit(): Promise<void> {
    const workers = this.config.intake.cryptoWorkers;
    this.pool = await CryptoPool.start(this.genesis.current().params, workers > 0 ? { size: workers } : {});
    this.logger.log(`${this.pool.size} verification worker(s)`);
  }

  async onModuleDestroy(): Promise<void> {
    await this.pool?.close();
  }

  async verifyReports(
    items: ReadonlyArray<{ report: Report | Uint8Array; meter: RegisteredMeter }>,
    purpose: 'intake' | 'block' | 'verify-chain',
  ): Promise<BatchVerdict> {
    if (!this.pool) {
      throw new Error('the verification pool is not started yet');
    }
    if (purpose === 'verify-chain') {
      // An audit recomputes everything from the stored bytes; nothing remembered counts.
      this.verified.inc({ purpose }, items.length);
      return this.pool.verifyReports(items);
    }
    const keys = items.map((item) =>
      item.report instanceof Uint8Array
        ? undefined
        : `${item.report.idHex}/${Buffer.from(item.meter.publicKey).toString('base64')}/${Buffer.from(item.meter.alpha).toString('base64')}`,
    );
    // A block's vote, and so the chain's finality, waits for this check; intake can wait for it.
    const urgency = new Urgency(purpose === 'block');
    const todo: number[] = [];
    const elsewhere: Array<{ position: number; verdict: Promise<ReportVerdict> }> = [];
    const mine = new Map<string, Waiting>();
    keys.forEach((key, i) => {
      const running = key === undefined ? undefined : this.checking.get(key);
      if (key !== undefined && this.held.has(key)) {
        return;
      }
      if (running) {
        if (urgency.urgent) {
          running.urgency.raise();
        }
        elsewhere.push({ position: i, verdict: running.verdict });
        return;
      }
      todo.push(i);
      if (key !== undefined && !mine.has(key)) {
        const verdict = new Promise<ReportVerdict>((resolve, reject) => mine.set(key, { resolve, reject }));
        verdict.catch(() => undefined); // a failure reaches those who wait, if any
        this.checking.set(key, { verdict, urgency });
      }
    });
    this.verified.inc({ purpose }, todo.length);
    const verdicts: ReportVerdict[] = new Array<ReportVerdict>(items.length).fill(VALID);
    // Those who joined these checks get their outcome, whichever it is.
    const settle = (outcome: (waiting: Waiting, position: number) => void) => {
      for (const position of todo) {
        const key = keys[position]!;
        const waiting = mine.get(key);
        if (waiting) {
          this.checking.delete(key);
          mine.delete(key);
          outcome(waiting, position);
        }
      }
    };
    try {
      const checked = await this.pool.verifyReports(
        todo.map((i) => items[i]!),
        { urgent: urgency },
      );
      todo.forEach((position, k) => {
        verdicts[position] = checked.verdicts[k]!;
      });
      settle((waiting, position) => waiting.resolve(verdicts[position]!));
    } catch (error) {
      settle((waiting) => waiting.reject(error));
      throw error;
    }
    for (const { position, verdict } of elsewhere) {
      verdicts[position] = await verdict;
    }
    verdicts.forEach((verdict, i) => {
      const key = keys[i];
      if (verdict.valid && key !== undefined) {
        this.held.delete(key);
        this.held.add(key);
      }
    });
    for (const key of this.held) {
      if (this.held.size <= HELD_CAPACITY) {
        break;
      }
      this.held.delete(key);
    }
    const invalid = verdicts.flatMap((v, i) => (v.valid ? [] : [i]));
    return { allValid: invalid.length === 0, invalid, verdicts };
  }
}
