import { Inject, Injectable } from '@nestjs/common';
import type { Pool } from 'pg';

import { ChainContext, ChainService, ScheduleService } from '@app/chain';
import { elect, roundOfSlot, tallyVotes } from '@app/ledger';
import { PG_POOL } from '@app/persistence';

import type { ChartsView, MeterPage, StandingView } from './console.types';

export interface MeterSearch {
  /** Part of a meter id or location, any case. */
  text?: string;
  status?: 'registered' | 'active' | 'revoked';
  /** Meter ids after this one (pages in id order). */
  after?: string;
  limit: number;
}

/** LIKE treats % and _ as wildcards: a search for them must find them literally. */
function likePattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** The console's reads of the final chain and the registry, shaped for its charts and tables. */
@Injectable()
export class ConsoleReads {
  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    private readonly chain: ChainService,
    private readonly context: ChainContext,
    private readonly schedules: ScheduleService,
  ) {}

  async mempoolTransactions(): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>('SELECT count(*) AS n FROM mempool_transactions');
    return Number(rows[0]?.n ?? 0);
  }

  /** The last `blocks` final blocks, the last `rounds` rounds and `minutes` minutes of final reports. */
  async charts(blocks: number, rounds: number, minutes: number): Promise<ChartsView> {
    const final = this.chain.status().final;
    const timing = this.context.timing;
    const finalRound = BigInt(final.slot) >= 1n ? roundOfSlot(timing, BigInt(final.slot)) : 0n;
    const firstRound = finalRound - BigInt(rounds) + 1n < 0n ? 0n : finalRound - BigInt(rounds) + 1n;
    // Minutes of blocks are found by height (indexed), not by timestamp: at least one block a slot.
    const blocksForMinutes = Math.ceil((minutes * 60_000) / timing.slotMs);
    const [blockRows, missedRows, producedRows, minuteRows] = await Promise.all([
      this.pool.query<{
        height: string;
        round: string;
        timestamp: Date;
        transaction_count: number;
        reports: string;
      }>(
        `SELECT b.height, b.round, b.timestamp, b.transaction_count,
                (SELECT count(*) FROM block_transactions t WHERE t.kind = 'report' AND t.height = b.height) AS reports
         FROM blocks b WHERE b.height > $1 ORDER BY b.height`,
        [(BigInt(final.height) - BigInt(blocks)).toString()],
      ),
      this.pool.query<{ round: string; n: string }>(
        'SELECT round, count(*) AS n FROM missed_slots WHERE round >= $1 GROUP BY round',
        [firstRound.toString()],
      ),
      this.pool.query<{ round: string; n: string }>(
        'SELECT round, count(*) AS n FROM blocks WHERE round >= $1 GROUP BY round',
        [firstRound.toString()],
      ),
      this.pool.query<{ minute: Date; reports: string }>(
        `SELECT date_trunc('minute', b.timestamp) AS minute, count(t.height) AS reports
         FROM blocks b LEFT JOIN block_transactions t ON t.height = b.height AND t.kind = 'report'
         WHERE b.height > $1 AND b.timestamp > now() - make_interval(mins => $2)
         GROUP BY 1 ORDER BY 1`,
        [(BigInt(final.height) - BigInt(blocksForMinutes)).toString(), minutes],
      ),
    ]);
    const missed = new Map(missedRows.rows.map((r) => [r.round, Number(r.n)]));
    const produced = new Map(producedRows.rows.map((r) => [r.round, Number(r.n)]));
    const roundPoints = [];
    for (let round = firstRound; round <= finalRound; round += 1n) {
      const key = round.toString();
      const m = missed.get(key) ?? 0;
      roundPoints.push({ round: key, missed: m, settled: m + (produced.get(key) ?? 0) });
    }
    return {
      blocks: blockRows.rows.map((r) => ({
        height: r.height,
        round: r.round,
        timestamp: r.timestamp.toISOString(),
        transactions: r.transaction_count,
        reports: Number(r.reports),
      })),
      rounds: roundPoints,
      minutes: minuteRows.rows.map((r) => ({ minute: r.minute.toISOString(), reports: Number(r.reports) })),
    };
  }

  /**
   * Every delegate with its stake-weighted votes and rank (the election's own rules: @app/ledger
   * tallyVotes and elect, on the final registry), whether the current round elected it, and how it
   * has been producing over the last `recentRounds` rounds.
   */
  async standing(recentRounds: number): Promise<StandingView> {
    const status = this.chain.status();
    const round = BigInt(status.currentRound);
    const fromRound = round - BigInt(recentRounds) + 1n < 0n ? 0n : round - BigInt(recentRounds) + 1n;
    const [delegates, organisations, produced, missed] = await Promise.all([
      this.pool.query<{ id: string; organisation: string; status: string }>(
        'SELECT id, organisation, status FROM registry_delegates ORDER BY id',
      ),
      this.pool.query<{ id: string; stake: string; approves: string[] | null; updated_at: Date | null }>(
        `SELECT o.id, o.stake, b.approves, b.updated_at FROM registry_organisations o
         LEFT JOIN registry_ballots b ON b.organisation = o.id ORDER BY o.id`,
      ),
      this.pool.query<{ producer: string; n: string }>(
        'SELECT producer, count(*) AS n FROM blocks WHERE round >= $1 GROUP BY producer',
        [fromRound.toString()],
      ),
      this.pool.query<{ delegate: string; total: string; recent: string; election: string[] | null }>(
        `SELECT delegate, count(*) AS total, count(*) FILTER (WHERE round >= $1) AS recent,
                array_agg(slot::text ORDER BY slot) FILTER (WHERE round = $2) AS election
         FROM missed_slots GROUP BY delegate`,
        [fromRound.toString(), (round - 2n).toString()],
      ),
    ]);
    const standings = tallyVotes(
      delegates.rows.map((d) => ({ id: d.id, active: d.status === 'active' })),
      organisations.rows.map((o) => ({ stake: BigInt(o.stake), approves: o.approves ?? [] })),
    );
    const ranked = elect(standings, standings.length, new Set());
    const elected = new Set(this.schedules.forRound(round)?.elected ?? []);
    const producedBy = new Map(produced.rows.map((r) => [r.producer, Number(r.n)]));
    const missedBy = new Map(missed.rows.map((r) => [r.delegate, r]));
    const votes = new Map(standings.map((s) => [s.id, s.votes]));
    return {
      round: round.toString(),
      recentRounds,
      delegates: delegates.rows
        .map((d) => ({
          id: d.id,
          organisation: d.organisation,
          status: d.status,
          votes: (votes.get(d.id) ?? 0n).toString(),
          // Revoked delegates are not ranked: after every active one.
          rank: ranked.includes(d.id) ? ranked.indexOf(d.id) + 1 : ranked.length + 1,
          elected: elected.has(d.id),
          // Missed a slot in the round whose end elected this one, and not elected: dropped for it.
          droppedFor:
            !elected.has(d.id) && missedBy.get(d.id)?.election
              ? { round: (round - 2n).toString(), slots: missedBy.get(d.id)!.election! }
              : null,
          hostedHere: this.context.localDelegates.has(d.id),
          produced: producedBy.get(d.id) ?? 0,
          missed: Number(missedBy.get(d.id)?.total ?? 0),
          recentlyMissed: Number(missedBy.get(d.id)?.recent ?? 0),
        }))
        .sort((a, b) => a.rank - b.rank || a.id.localeCompare(b.id)),
      ballots: organisations.rows.map((o) => ({
        organisation: o.id,
        stake: o.stake,
        approves: o.approves ?? [],
        updatedAt: o.updated_at?.toISOString() ?? null,
      })),
    };
  }

  async meters(search: MeterSearch): Promise<MeterPage> {
    const pattern = search.text ? likePattern(search.text) : null;
    const filter = `($1::text IS NULL OR m.id ILIKE $1 OR m.location ILIKE $1) AND ($2::text IS NULL OR m.status = $2)`;
    const [page, total] = await Promise.all([
      this.pool.query<{
        id: string;
        status: string;
        registrar: string;
        location: string | null;
        policy: Array<{ receiver: string }>;
        registered_at: Date;
        last_report_height: string | null;
      }>(
        // A meter's nonces only grow: its highest one is its latest report (one index probe).
        `SELECT m.id, m.status, m.registrar, m.location, m.policy, m.registered_at,
                (SELECT t.height FROM block_transactions t WHERE t.meter_id = m.id
                 ORDER BY t.nonce DESC LIMIT 1) AS last_report_height
         FROM registry_meters m
         WHERE ${filter} AND ($3::text IS NULL OR m.id > $3)
         ORDER BY m.id LIMIT $4`,
        [pattern, search.status ?? null, search.after ?? null, search.limit],
      ),
      this.pool.query<{ n: string }>(`SELECT count(*) AS n FROM registry_meters m WHERE ${filter}`, [
        pattern,
        search.status ?? null,
      ]),
    ]);
    const meters = page.rows.map((m) => ({
      id: m.id,
      status: m.status,
      registrar: m.registrar,
      location: m.location,
      receivers: m.policy.map((p) => p.receiver),
      registeredAt: m.registered_at.toISOString(),
      lastReportHeight: m.last_report_height,
    }));
    return {
      meters,
      total: Number(total.rows[0]?.n ?? 0),
      next: meters.length === search.limit ? meters[meters.length - 1]!.id : null,
    };
  }
}
