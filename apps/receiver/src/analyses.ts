import { createHash } from 'node:crypto';

import { BadGatewayException, Inject, Injectable } from '@nestjs/common';
import { Pool } from 'pg';

import type { PublicationSubject, ReceiverConfig } from '@app/config';
import { canonicalJson } from '@app/kernel';
import { Transaction } from '@app/ledger';
import {
  analyseTheft,
  classStatistics,
  deviceStatistics,
  faultReports,
  predictFailures,
  trackDeviceStates,
} from '@app/receivers';
import type { ReceiverPublicationBody } from '@app/registry';

import { NodeMeters } from './node-meters';
import { NodeRefusal, submitTransaction } from './node-transactions';
import { RECEIVER_CONFIG, RECEIVER_DB, RECEIVER_RUNTIME, type ReceiverRuntime } from './receiver.tokens';
import { SentTransactions } from './sent-transactions';

/** Readings of the window: the last $2 hours up to $3 (epoch ms), or up to now when $3 is null. */
const WINDOW_SQL = `read_at >= coalesce(to_timestamp($3::double precision / 1000), now()) - make_interval(hours => $2)
       AND ($3::double precision IS NULL OR read_at <= to_timestamp($3::double precision / 1000))`;

interface Analysis {
  content: object;
  summary: Array<{ id: string; codes: string[] }>;
  contentHash: string;
}

/** What a publication puts on the chain: the window that ends at `to`, the hash and the summary. */
function publicationBody(
  receiverId: string,
  subject: PublicationSubject,
  windowHours: number,
  to: number,
  analysis: Analysis,
): ReceiverPublicationBody {
  return {
    receiverId,
    subject,
    from: to - windowHours * 3_600_000,
    to,
    contentHash: analysis.contentHash,
    summary: analysis.summary.slice(0, 200),
  };
}

/** A transaction as receiver_publications keeps it: its hash, its bytes. */
function txColumns(tx: Transaction): [Buffer, Buffer] {
  return [Buffer.from(tx.hash), Buffer.from(tx.encode())];
}

export interface Publication {
  txHash: string;
  contentHash: string;
  summary: Array<{ id: string; codes: string[] }>;
  content: object;
}

/**
 * The analyses over this receiver's own readings (paper V.A and Fig. 4), and their publication on
 * the chain: asked for over the API, or on a schedule (ScheduledPublications).
 */
@Injectable()
export class ReceiverAnalyses {
  constructor(
    @Inject(RECEIVER_DB) private readonly db: Pool,
    @Inject(RECEIVER_CONFIG) private readonly config: ReceiverConfig,
    @Inject(RECEIVER_RUNTIME) private readonly runtime: ReceiverRuntime,
    private readonly meters: NodeMeters,
    private readonly sent: SentTransactions,
  ) {
    sent.handle('receiver.publication', (stale, maxInDoubt) => this.resign(stale, maxInDoubt));
  }

  /**
   * Anti-theft, "high supply, low meter", over the last `windowHours` of readings: up to now, or up
   * to `to` (epoch ms, a publication's window) and not after it.
   */
  async theft(windowHours: number, intervalMinutes: number, to?: number) {
    const { rows } = await this.db.query<{
      meter_id: string;
      read_at: Date;
      dimensions: Record<string, number | string>;
    }>(
      `SELECT meter_id, read_at, dimensions FROM receiver_readings
       WHERE receiver_id = $1 AND ${WINDOW_SQL} ORDER BY meter_id, read_at`,
      [this.config.receiverId, windowHours, to ?? null],
    );
    const byMeter = new Map<string, Array<{ at: number; values: Record<string, number | string> }>>();
    for (const row of rows) {
      const list = byMeter.get(row.meter_id) ?? [];
      list.push({ at: row.read_at.getTime(), values: row.dimensions });
      byMeter.set(row.meter_id, list);
    }
    const report = analyseTheft(
      [...byMeter].map(([meterId, readings]) => ({
        meterId,
        intervalMs: intervalMinutes * 60_000,
        readings,
      })),
    );
    return {
      windowHours,
      suspects: report.suspects,
      cleared: report.cleared.map((e) => ({ meterId: e.meterId, ratio: e.ratio })),
      undetermined: report.undetermined.map((u) => ({ meterId: u.meterId, reason: u.reason })),
    };
  }

  /**
   * The equipment supplier's view: states, transitions, faults, statistics and failure prediction,
   * over the last `windowHours` (up to now, or up to `to` as in theft()).
   */
  async devices(windowHours: number, intervalMinutes: number, to?: number) {
    const intervalMs = intervalMinutes * 60_000;
    const { rows } = await this.db.query<{ meter_id: string; read_at: Date; status: string }>(
      `SELECT meter_id, read_at, dimensions->>'device_status' AS status FROM receiver_readings
       WHERE receiver_id = $1 AND ${WINDOW_SQL} AND dimensions ? 'device_status'
       ORDER BY meter_id, read_at`,
      [this.config.receiverId, windowHours, to ?? null],
    );
    const byMeter = new Map<string, Array<{ at: number; status: string }>>();
    for (const row of rows) {
      const list = byMeter.get(row.meter_id) ?? [];
      list.push({ at: row.read_at.getTime(), status: row.status });
      byMeter.set(row.meter_id, list);
    }
    const devices = [];
    for (const [meterId, observations] of byMeter) {
      const info = {
        deviceId: meterId,
        location: await this.locationOf(meterId),
        deviceClass: 'smart-meter',
      };
      const timeline = trackDeviceStates(meterId, observations, intervalMs);
      devices.push({
        info,
        state: timeline.segments.at(-1)?.state ?? null,
        transitions: timeline.transitions,
        impossible: timeline.impossible,
        faults: faultReports(timeline, info),
        statistics: deviceStatistics(timeline, info),
      });
    }
    const statistics = devices.map((d) => d.statistics);
    return {
      windowHours,
      devices: devices.map(({ info, ...rest }) => ({
        deviceId: info.deviceId,
        location: info.location,
        ...rest,
      })),
      classes: classStatistics(statistics),
      predictions: predictFailures(statistics),
    };
  }

  /**
   * Publishes an analysis as a receiver.publication transaction signed by the organisation: the
   * SHA-256 of its full content and a short summary (theft-suspects: the suspects and their reason
   * codes; device-report: devices with faults and their fault types). Each call is a publication of
   * its own (POST /publications); a schedule's periods go through publishScheduled().
   */
  async publish(subject: PublicationSubject, windowHours: number, to = Date.now()): Promise<Publication> {
    const analysis = await this.analyse(subject, windowHours, to);
    const tx = this.sign(publicationBody(this.config.receiverId, subject, windowHours, to, analysis), to);
    try {
      await submitTransaction(this.config.nodeUrl, tx);
    } catch (error) {
      if (error instanceof NodeRefusal) {
        throw new BadGatewayException(`the node refused the publication: ${error.status} ${error.text}`);
      }
      throw error;
    }
    return {
      txHash: tx.hashHex,
      contentHash: analysis.contentHash,
      summary: analysis.summary,
      content: analysis.content,
    };
  }

  /**
   * Publishes the period of a schedule that ends at `periodEnd` (epoch ms, the scheduled run's time),
   * once however often it is attempted: the signed transaction is stored under (receiver, subject,
   * periodEnd) before it is sent, and every later attempt sends those same bytes, which a node that
   * took them answers as a duplicate (a lost answer, a stalled job). A node that finds them too old
   * (TX.STALE) gets the same body signed again with a fresh timestamp, in place of the stored one,
   * once the stale one can never be in a final block (SentTransactions.replace). Once a node accepted
   * it, the job is done, and SentTransactions keeps it until it is final (and sends it again if the
   * node loses it unincluded). A period older than SENT_RETENTION_HOURS is not published: its row may
   * have been pruned, and it would be published twice.
   */
  async publishScheduled(
    subject: PublicationSubject,
    windowHours: number,
    periodEnd: number,
  ): Promise<Omit<Publication, 'content'>> {
    if (periodEnd < Date.now() - this.config.sent.retentionMs) {
      throw new Error(`the period of ${subject} up to ${periodEnd} is past the retention: not published`);
    }
    let stored = await this.storedPublication(subject, periodEnd);
    if (!stored) {
      const analysis = await this.analyse(subject, windowHours, periodEnd);
      const body = publicationBody(this.config.receiverId, subject, windowHours, periodEnd, analysis);
      // Of two processes that attempt the period at once, the first to store it is the one sent.
      await this.db.query(
        `INSERT INTO receiver_publications (receiver_id, subject, period_end, tx_hash, tx, created_at)
         VALUES ($1, $2, $3, $4, $5, now()) ON CONFLICT DO NOTHING`,
        [this.config.receiverId, subject, periodEnd, ...txColumns(this.sign(body, Date.now()))],
      );
      stored = (await this.storedPublication(subject, periodEnd))!;
    }
    let { tx } = stored;
    if (!stored.accepted) {
      const sent = await this.sent.send('receiver.publication', tx);
      if (!sent) {
        throw new Error(`the publication of ${subject} up to ${periodEnd} was replaced by another process`);
      }
      tx = sent;
    }
    const body = tx.body as ReceiverPublicationBody;
    return { txHash: tx.hashHex, contentHash: body.contentHash, summary: body.summary };
  }

  /**
   * The same body under a fresh timestamp, in place of a stale stored publication (SentTransactions
   * decides when that is safe; `maxInDoubt` keeps a send made since out of it).
   */
  private async resign(stale: Transaction, maxInDoubt: number): Promise<Transaction | undefined> {
    const fresh = this.sign(stale.body as ReceiverPublicationBody, Date.now());
    const { rowCount } = await this.db.query(
      `UPDATE receiver_publications SET tx_hash = $3, tx = $4, accepted_at = NULL, sends_in_doubt = 0
       WHERE receiver_id = $1 AND tx_hash = $2 AND final_at IS NULL AND sends_in_doubt <= $5`,
      [this.config.receiverId, Buffer.from(stale.hash), ...txColumns(fresh), maxInDoubt],
    );
    return rowCount === 0 ? undefined : fresh;
  }

  private async storedPublication(
    subject: PublicationSubject,
    periodEnd: number,
  ): Promise<{ tx: Transaction; accepted: boolean } | undefined> {
    const { rows } = await this.db.query<{ tx: Buffer; accepted: boolean }>(
      `SELECT tx, accepted_at IS NOT NULL AS accepted FROM receiver_publications
       WHERE receiver_id = $1 AND subject = $2 AND period_end = $3`,
      [this.config.receiverId, subject, periodEnd],
    );
    const row = rows[0];
    return row && { tx: Transaction.decode(row.tx), accepted: row.accepted };
  }

  /** The analysis of `subject` over the window that ends at `to`, its hash and its summary. */
  private async analyse(subject: PublicationSubject, windowHours: number, to: number): Promise<Analysis> {
    let content: object;
    let summary: Array<{ id: string; codes: string[] }>;
    if (subject === 'theft-suspects') {
      const theft = await this.theft(windowHours, 15, to);
      content = theft;
      summary = theft.suspects.map((s) => ({ id: s.meterId, codes: s.reasons.map((r) => r.code) }));
    } else {
      const devices = await this.devices(windowHours, 15, to);
      content = devices;
      summary = devices.devices
        .filter((d) => d.faults.length > 0)
        .map((d) => ({ id: d.deviceId, codes: [...new Set(d.faults.map((f) => String(f.faultType)))] }));
    }
    const contentHash = createHash('sha256').update(canonicalJson(content)).digest('hex');
    return { content, summary, contentHash };
  }

  private sign(body: ReceiverPublicationBody, timestamp: number): Transaction {
    return Transaction.sign(
      {
        chainId: this.runtime.chainId,
        kind: 'receiver.publication',
        sender: this.config.organisation.id,
        timestamp,
        body,
      },
      this.runtime.organisationKey,
    );
  }

  /** Where a device is: its registered location (from the node), or "unknown". */
  private async locationOf(meterId: string): Promise<string> {
    const meter = await this.meters.get(meterId).catch(() => undefined);
    return meter?.location ?? 'unknown';
  }
}
