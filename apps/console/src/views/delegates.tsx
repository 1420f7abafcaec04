import type { MissedSlotPage, StandingView } from '../api-types';
import { ago, count } from '../format';
import { usePoll } from '../use-poll';

const RECENT_ROUNDS = 10;

export function DelegatesView() {
  const standing = usePoll<StandingView>(`/admin/standing?rounds=${RECENT_ROUNDS}`, 5_000);
  const missed = usePoll<MissedSlotPage>('/missed-slots?limit=50', 5_000);
  const delegates = standing.data?.delegates ?? [];
  const mostVotes = delegates.reduce((top, d) => (BigInt(d.votes) > top ? BigInt(d.votes) : top), 1n);
  return (
    <div className="grid">
      <section className="card wide" aria-labelledby="standing-title">
        <h2 id="standing-title">Delegates by stake-weighted votes (round {standing.data?.round ?? '…'})</h2>
        {standing.error && <p className="error">{standing.error}</p>}
        <table className="table" data-testid="standing">
          <thead>
            <tr>
              <th className="num">rank</th>
              <th>delegate</th>
              <th>organisation</th>
              <th>votes (stake)</th>
              <th>this round</th>
              <th className="num">produced, last {RECENT_ROUNDS} rounds</th>
              <th className="num">missed, last {RECENT_ROUNDS} rounds</th>
              <th className="num">missed, all</th>
            </tr>
          </thead>
          <tbody>
            {delegates.map((d) => (
              <tr key={d.id} className={d.status === 'revoked' ? 'row-muted' : undefined}>
                <td className="num">{d.status === 'revoked' ? '—' : d.rank}</td>
                <td>
                  <b>{d.id}</b> {d.hostedHere && <span className="badge badge-info">here</span>}
                </td>
                <td>{d.organisation}</td>
                <td>
                  <span className="vote-bar">
                    <span
                      className="vote-fill"
                      style={{ width: `${Number((BigInt(d.votes) * 1000n) / mostVotes) / 10}%` }}
                    />
                  </span>{' '}
                  {count(d.votes)}
                </td>
                <td>
                  {d.status === 'revoked' ? (
                    <span className="badge badge-critical">revoked</span>
                  ) : d.elected ? (
                    <span className="badge badge-ok">elected</span>
                  ) : d.droppedFor ? (
                    <span
                      className="badge badge-critical"
                      data-testid="dropped"
                      title={`missed slot ${d.droppedFor.slots.join(', ')} in round ${d.droppedFor.round}`}
                    >
                      dropped: missed {d.droppedFor.slots.length} in round {d.droppedFor.round}
                    </span>
                  ) : (
                    <span className="muted">standby</span>
                  )}
                </td>
                <td className="num">{count(d.produced)}</td>
                <td className={d.recentlyMissed > 0 ? 'num error-text' : 'num'}>{count(d.recentlyMissed)}</td>
                <td className="num">{count(d.missed)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section className="card" aria-labelledby="ballots-title">
        <h2 id="ballots-title">Ballots</h2>
        <p className="muted">Each organisation's whole stake approves every delegate on its ballot.</p>
        <table className="table compact">
          <thead>
            <tr>
              <th>organisation</th>
              <th className="num">stake</th>
              <th>approves</th>
            </tr>
          </thead>
          <tbody>
            {standing.data?.ballots.map((b) => (
              <tr key={b.organisation}>
                <td>{b.organisation}</td>
                <td className="num">{count(b.stake)}</td>
                <td>
                  {b.approves.length === 0 ? <span className="muted">no ballot</span> : b.approves.join(', ')}
                  {b.updatedAt && <span className="muted"> · {ago(b.updatedAt)}</span>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section className="card" aria-labelledby="all-missed-title">
        <h2 id="all-missed-title">Missed slots (final chain, latest 50)</h2>
        {missed.error && <p className="error">{missed.error}</p>}
        {missed.data?.missedSlots.length === 0 && <p className="muted">No slot missed.</p>}
        <table className="table compact">
          <tbody>
            {missed.data?.missedSlots.map((m) => (
              <tr key={m.slot}>
                <td>slot {m.slot}</td>
                <td className="muted">round {m.round}</td>
                <td>{m.delegate}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </div>
  );
}
