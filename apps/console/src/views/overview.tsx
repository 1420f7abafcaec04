import { useState } from 'react';

import { api, describeError } from '../api';
import type {
  AlarmPage,
  BlockPage,
  ChainStatus,
  ChainVerification,
  ChartsView,
  ConsoleSession,
  MempoolView,
  MissedSlotPage,
  RoundView,
} from '../api-types';
import { AreaChart, BarChart } from '../charts';
import { ago, clock, count, rate, shortHash } from '../format';
import { usePoll } from '../use-poll';
import { SeverityBadge } from './alarms';

/** "delegate-007" reads as "007" in a slot cell; the full id is in its tooltip. */
function shortDelegate(id: string): string {
  return id.replace(/^delegate-/, '');
}

function Tile({
  label,
  value,
  hint,
  testId,
}: {
  label: string;
  value: string;
  hint?: string;
  testId?: string;
}) {
  return (
    <div className="tile">
      <div className="tile-label">{label}</div>
      <div className="tile-value" data-testid={testId}>
        {value}
      </div>
      {hint && <div className="tile-hint">{hint}</div>}
    </div>
  );
}

type SlotState = 'produced' | 'missed' | 'now' | 'unsettled' | 'upcoming';

function slotState(slot: RoundView['slots'][number], currentSlot: bigint): SlotState {
  if (slot.height !== null) {
    return 'produced';
  }
  if (slot.missed) {
    return 'missed';
  }
  const at = BigInt(slot.slot);
  return at === currentSlot ? 'now' : at < currentSlot ? 'unsettled' : 'upcoming';
}

const SLOT_STATE_TEXT: Record<SlotState, string> = {
  produced: 'produced (final)',
  missed: 'missed',
  now: 'now',
  unsettled: 'not final yet',
  upcoming: 'upcoming',
};

function RoundStrip({ round, status, caption }: { round: string; status: ChainStatus; caption: string }) {
  const schedule = usePoll<RoundView>(`/schedule?round=${round}`, 1_000);
  const current = BigInt(status.currentSlot);
  const local = new Set(status.localDelegates);
  const missed = schedule.data?.slots.filter((s) => s.missed).length ?? 0;
  return (
    <div className="round">
      <h3>
        Round {round} <span className="muted">({caption})</span>
        {missed > 0 && <span className="badge badge-critical">{missed} missed</span>}
      </h3>
      {schedule.error && <p className="error">{schedule.error}</p>}
      <ol className="slots" data-testid="schedule" data-round={round}>
        {schedule.data?.slots.map((slot) => {
          const state = slotState(slot, current);
          return (
            <li
              key={slot.slot}
              className={`slot slot-${state}${local.has(slot.producer) ? ' slot-local' : ''}`}
              data-state={state}
              data-producer={slot.producer}
              title={`slot ${slot.slot}: ${slot.producer}, ${SLOT_STATE_TEXT[state]}${
                slot.height ? ` at height ${slot.height}` : ''
              }${local.has(slot.producer) ? ' (hosted on this node)' : ''}`}
            >
              <span className="slot-producer">{shortDelegate(slot.producer)}</span>
              <span className="slot-detail">{slot.height ? `#${slot.height}` : SLOT_STATE_TEXT[state]}</span>
            </li>
          );
        })}
      </ol>
      {schedule.data && schedule.data.dropped.length > 0 && (
        <p className="error-text" data-testid="dropped" data-round={round}>
          Dropped from this round for missed slots:{' '}
          {schedule.data.dropped
            .map((d) => `${d.delegate} (slot ${d.missedSlots.join(', ')} of round ${d.missedRound})`)
            .join('; ')}
        </p>
      )}
    </div>
  );
}

/** The current round and the one before: most of the current round is not final yet, the last one is. */
function Schedule({ status }: { status: ChainStatus | undefined }) {
  const round = status ? BigInt(status.currentRound) : undefined;
  return (
    <section className="card span-2" aria-labelledby="schedule-title">
      <h2 id="schedule-title">Producer schedule</h2>
      {round !== undefined && status && (
        <>
          {/* Keyed by round: when the round turns, the current strip becomes the last one as it is. */}
          {round > 0n && (
            <RoundStrip
              key={(round - 1n).toString()}
              round={(round - 1n).toString()}
              status={status}
              caption="last round"
            />
          )}
          <RoundStrip
            key={round.toString()}
            round={round.toString()}
            status={status}
            caption="current round"
          />
        </>
      )}
      <p className="legend">
        <span className="slot-key slot-produced" /> produced <span className="slot-key slot-missed" /> missed{' '}
        <span className="slot-key slot-now" /> now <span className="slot-key slot-unsettled" /> not final yet{' '}
        <span className="slot-key slot-upcoming" /> upcoming <span className="slot-key slot-local" /> hosted
        here
      </p>
    </section>
  );
}

function MissedSlots() {
  const missed = usePoll<MissedSlotPage>('/missed-slots?limit=8', 2_000);
  return (
    <section className="card" aria-labelledby="missed-title">
      <h2 id="missed-title">Latest missed slots</h2>
      {missed.error && <p className="error">{missed.error}</p>}
      {missed.data?.missedSlots.length === 0 && <p className="muted">No slot missed in the final chain.</p>}
      <table className="table compact" data-testid="missed-slots">
        <tbody>
          {missed.data?.missedSlots.map((m) => (
            <tr key={m.slot} data-testid="missed-slot" data-delegate={m.delegate} data-slot={m.slot}>
              <td>slot {m.slot}</td>
              <td className="muted">round {m.round}</td>
              <td>
                <b>{m.delegate}</b>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function VerifyChain() {
  const [running, setRunning] = useState(false);
  const [result, setResult] = useState<{ verification?: ChainVerification; error?: string; at: number }>();
  const run = async () => {
    setRunning(true);
    try {
      const verification = await api<ChainVerification>('/chain/verify', { method: 'POST' });
      setResult({ verification, at: Date.now() });
    } catch (error) {
      setResult({ error: describeError(error), at: Date.now() });
    } finally {
      setRunning(false);
    }
  };
  const v = result?.verification;
  return (
    <section className="card" aria-labelledby="verify-title">
      <h2 id="verify-title">Verify chain</h2>
      <p className="muted">
        Recomputes every hash, Merkle root and signature of the final chain from genesis, and names the first
        block that does not hold.
      </p>
      <button type="button" onClick={() => void run()} disabled={running} data-testid="verify-button">
        {running ? 'Verifying…' : 'Verify chain'}
      </button>
      {result && (
        <div
          className={`verify-result ${v?.ok ? 'ok' : 'bad'}`}
          role="status"
          data-testid="verify-result"
          data-ok={v?.ok ? 'true' : 'false'}
        >
          {v?.ok && (
            <>
              <b>The chain holds.</b> {count(v.blocksChecked)} blocks, {count(v.reportsChecked)} reports and{' '}
              {count(v.transactionsChecked)} transactions checked in {rate(v.seconds)} s.
            </>
          )}
          {v && !v.ok && (
            <>
              <b>Block {v.firstBad?.height ?? '?'} does not hold:</b>{' '}
              {v.firstBad?.reason ?? 'no reason given'} ({count(v.blocksChecked)} blocks checked).
            </>
          )}
          {result.error && (
            <>
              <b>Verification failed:</b> {result.error}
            </>
          )}
          <div className="muted">at {clock(result.at)}</div>
        </div>
      )}
    </section>
  );
}

function Charts({ session }: { session: ConsoleSession }) {
  const charts = usePoll<ChartsView>('/admin/charts?blocks=120&rounds=20&minutes=30', 3_000);
  const blocks = charts.data?.blocks ?? [];
  const rounds = charts.data?.rounds ?? [];
  const minutes = charts.data?.minutes ?? [];
  const first = blocks[0];
  const last = blocks[blocks.length - 1];
  const fullest = Math.max(0, ...blocks.map((b) => b.transactions));
  return (
    <>
      <section className="card" aria-label="Reports per block">
        <BarChart
          label="Intake: reports per final block"
          bars={blocks.map((b) => ({
            key: b.height,
            value: b.reports,
            title: `block ${b.height}: ${b.reports} reports`,
            tone: b.reports === 0 ? 'muted' : 'normal',
          }))}
          from={first ? `#${first.height}` : undefined}
          to={last ? `#${last.height}` : undefined}
        />
      </section>
      <section className="card" aria-label="Block fill">
        <BarChart
          label={`Block fill: transactions per block (largest ${count(fullest)} of ${count(session.maxBlockTransactions)} allowed)`}
          bars={blocks.map((b) => ({
            key: b.height,
            value: b.transactions,
            title: `block ${b.height}: ${b.transactions} transactions (${rate((100 * b.transactions) / session.maxBlockTransactions)}% full)`,
            tone: b.transactions === 0 ? 'muted' : 'normal',
          }))}
          from={first ? `#${first.height}` : undefined}
          to={last ? `#${last.height}` : undefined}
        />
      </section>
      <section className="card" aria-label="Missed slots per round">
        <BarChart
          label={`Missed slots per round (of ${session.producers})`}
          max={1}
          bars={rounds.map((r) => ({
            key: r.round,
            value: r.missed,
            title: `round ${r.round}: ${r.missed} missed of ${r.settled} final slots`,
            tone: r.missed > 0 ? 'bad' : 'muted',
          }))}
          from={rounds[0] ? `round ${rounds[0].round}` : undefined}
          to={rounds.length > 0 ? `round ${rounds[rounds.length - 1]!.round}` : undefined}
        />
      </section>
      <section className="card" aria-label="Reports per minute">
        <BarChart
          label="Final reports per minute (last 30 min)"
          bars={minutes.map((m) => ({
            key: m.minute,
            value: m.reports,
            title: `${clock(m.minute)}: ${m.reports} reports`,
          }))}
          from={minutes[0] ? clock(minutes[0].minute).slice(0, 5) : undefined}
          to={minutes.length > 0 ? clock(minutes[minutes.length - 1]!.minute).slice(0, 5) : undefined}
        />
      </section>
      {charts.error && <p className="error span-2">{charts.error}</p>}
    </>
  );
}

function RecentBlocks() {
  const blocks = usePoll<BlockPage>('/blocks?limit=8', 2_000);
  return (
    <section className="card" aria-labelledby="blocks-title">
      <h2 id="blocks-title">Latest final blocks</h2>
      {blocks.error && <p className="error">{blocks.error}</p>}
      <table className="table compact">
        <thead>
          <tr>
            <th>height</th>
            <th>producer</th>
            <th className="num">txs</th>
            <th>hash</th>
            <th>time</th>
          </tr>
        </thead>
        <tbody>
          {blocks.data?.blocks.map((b) => (
            <tr key={b.height}>
              <td>{b.height}</td>
              <td>{b.producer}</td>
              <td className="num">{count(b.transactionCount)}</td>
              <td className="mono">{shortHash(b.hash)}</td>
              <td className="muted">{clock(b.timestamp)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

function LatestAlarms({ alarms }: { alarms: AlarmPage | undefined }) {
  const latest = alarms?.alarms.slice(0, 5) ?? [];
  return (
    <section className="card" aria-labelledby="latest-alarms-title">
      <h2 id="latest-alarms-title">Latest alarms</h2>
      {latest.length === 0 && <p className="muted">No alarm on the final chain.</p>}
      <ul className="alarm-list">
        {latest.map((a) => (
          <li key={`${a.transaction}-${a.type}`}>
            <SeverityBadge severity={a.severity} /> <b>{a.type}</b> {a.meterId ?? ''}{' '}
            <span className="muted">
              #{a.height} · {ago(a.at)}
            </span>
          </li>
        ))}
      </ul>
    </section>
  );
}

export function OverviewView({
  session,
  status,
  alarms,
}: {
  session: ConsoleSession;
  status: ChainStatus | undefined;
  alarms: AlarmPage | undefined;
}) {
  const mempool = usePoll<MempoolView>('/admin/mempool', 1_000);
  const lag = status ? BigInt(status.head.height) - BigInt(status.final.height) : undefined;
  const samples = mempool.data?.samples.slice(-120) ?? [];
  return (
    <div className="grid">
      <section className="tiles span-2" aria-label="Chain and mempool">
        <Tile
          label="Head"
          value={status ? count(status.head.height) : '…'}
          hint={status ? `${status.candidates} blocks not final` : undefined}
          testId="tile-head"
        />
        <Tile
          label="Final (irreversible)"
          value={status ? count(status.final.height) : '…'}
          hint={lag === undefined ? undefined : `${lag.toString()} behind the head`}
          testId="tile-final"
        />
        <Tile
          label="Mempool"
          value={mempool.data ? count(mempool.data.reports) : '…'}
          hint={
            mempool.data
              ? `reports · ${mempool.data.transactions} transactions · ${mempool.data.verifying} verifying`
              : undefined
          }
          testId="tile-mempool"
        />
        <Tile
          label="Intake"
          value={mempool.data ? `${rate(mempool.data.intakePerSecond)}/s` : '…'}
          hint="reports accepted, last 10 s"
          testId="tile-intake"
        />
        <Tile
          label="Final reports"
          value={status ? count(status.totals.reports) : '…'}
          hint={status ? `${count(status.totals.transactions)} transactions` : undefined}
        />
        <Tile
          label="Missed slots"
          value={status ? count(status.totals.missedSlots) : '…'}
          hint={`of ${session.producers} a round, ${session.slotMs / 1000} s each`}
        />
      </section>
      <Schedule status={status} />
      <section className="card" aria-label="Intake rate">
        <AreaChart
          label="Intake: reports accepted per second (last 2 min)"
          values={samples.map((s) => s.accepted)}
          from={samples[0] ? clock(samples[0].at) : undefined}
          to={samples.length > 0 ? clock(samples[samples.length - 1]!.at) : undefined}
        />
        {mempool.error && <p className="error">{mempool.error}</p>}
      </section>
      <section className="card" aria-label="Mempool depth">
        <AreaChart
          label="Mempool depth: reports waiting for a block (last 2 min)"
          values={samples.map((s) => s.mempool)}
          from={samples[0] ? clock(samples[0].at) : undefined}
          to={samples.length > 0 ? clock(samples[samples.length - 1]!.at) : undefined}
        />
      </section>
      <Charts session={session} />
      <MissedSlots />
      <VerifyChain />
      <RecentBlocks />
      <LatestAlarms alarms={alarms} />
    </div>
  );
}
