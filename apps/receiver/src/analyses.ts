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

import { NodeMeters } from './node-meters';
import { NodeRefusal, submitTransaction } from './node-transactions';
import { RECEIVER_CONFIG, RECEIVER_DB, RECEIVER_RUNTIME, type ReceiverRuntime } from './receiver.tokens';

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
  ) {}

  /** Anti-theft, "high supply, low meter", over the last `windowHours` of readings. */
  async theft(windowHours: number, intervalMinutes: number) {
    const { rows } = await this.db.query<{
      meter_id: string;
      read_at: Date;
      dimensions: Record<string, number | string>;
    }>(
      `SELECT meter_id, read_at, dimensions FROM receiver_readings
       WHERE receiver_id = $1 AND read_at >= now() - make_interval(hours => $2) ORDER BY meter_id, read_at`,
      [this.config.receiverId, windowHours],
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

  /** The equipment supplier's view: states, transitions, faults, statistics and failure prediction. */
  async devices(windowHours: number, intervalMinutes: number) {
    const intervalMs = intervalMinutes * 60_000;
    const { rows } = await this.db.query<{ meter_id: string; read_at: Date; status: string }>(
      `SELECT meter_id, read_at, dimensions->>'device_status' AS status FROM receiver_readings
       WHERE receiver_id = $1 AND read_at >= now() - make_interval(hours => $2) AND dimensions ? 'device_status'
       ORDER BY meter_id, read_at`,
      [this.config.receiverId, windowHours],
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
   * codes; device-report: devices with faults and their fault types).
   */
  async publish(subject: PublicationSubject, windowHours: number, to = Date.now()): Promise<Publication> {
    let content: object;
    let summary: Array<{ id: string; codes: string[] }>;
    if (subject === 'theft-suspects') {
      const theft = await this.theft(windowHours, 15);
      content = theft;
      summary = theft.suspects.map((s) => ({ id: s.meterId, codes: s.reasons.map((r) => r.code) }));
    } else {
      const devices = await this.devices(windowHours, 15);
      content = devices;
      summary = devices.devices
        .filter((d) => d.faults.length > 0)
        .map((d) => ({ id: d.deviceId, codes: [...new Set(d.faults.map((f) => String(f.faultType)))] }));
    }
    const contentHash = createHash('sha256').update(canonicalJson(content)).digest('hex');
    const tx = Transaction.sign(
      {
        chainId: this.runtime.chainId,
        kind: 'receiver.publication',
        sender: this.config.organisation.id,
        timestamp: to,
        body: {
          receiverId: this.config.receiverId,
          subject,
          from: to - windowHours * 3_600_000,
          to,
          contentHash,
          summary: summary.slice(0, 200),
        },
      },
      this.runtime.organisationKey,
    );
    try {
      await submitTransaction(this.config.nodeUrl, tx);
    } catch (error) {
      if (error instanceof NodeRefusal) {
        throw new BadGatewayException(`the node refused the publication: ${error.status} ${error.text}`);
      }
      throw error;
    }
    return { txHash: tx.hashHex, contentHash, summary, content };
  }

  /** Where a device is: its registered location (from the node), or "unknown". */
  private async locationOf(meterId: string): Promise<string> {
    const meter = await this.meters.get(meterId).catch(() => undefined);
    return meter?.location ?? 'unknown';
  }
}
