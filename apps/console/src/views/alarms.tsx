import { useState } from 'react';

import { api, describeError } from '../api';
import type { Alarm, AlarmPage, AlarmSeverity } from '../api-types';
import { ago, shortHash } from '../format';
import type { Polled } from '../use-poll';
import { SearchField } from '../search-field';

export function SeverityBadge({ severity }: { severity: AlarmSeverity }) {
  return <span className={`badge badge-${severity}`}>{severity}</span>;
}

function matches(alarm: Alarm, severity: string, text: string): boolean {
  if (severity !== 'all' && alarm.severity !== severity) {
    return false;
  }
  if (!text) {
    return true;
  }
  const wanted = text.toLowerCase();
  return [
    alarm.type,
    alarm.meterId ?? '',
    alarm.receiverId,
    alarm.message,
    ...alarm.subjects.map((s) => s.id),
  ].some((field) => field.toLowerCase().includes(wanted));
}

/** The newest alarms stay live (polled by the app); older pages are fetched on demand. */
export function AlarmsView({ latest }: { latest: Polled<AlarmPage> }) {
  const [severity, setSeverity] = useState('all');
  const [text, setText] = useState('');
  const [older, setOlder] = useState<Alarm[]>([]);
  const [next, setNext] = useState<string | null | undefined>(undefined);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string>();
  const cursor = next === undefined ? latest.data?.next : next;

  const loadOlder = async () => {
    if (!cursor) {
      return;
    }
    setLoading(true);
    try {
      const page = await api<AlarmPage>(`/admin/alarms?limit=100&cursor=${encodeURIComponent(cursor)}`);
      setOlder((shown) => [...shown, ...page.alarms]);
      setNext(page.next);
      setError(undefined);
    } catch (failure) {
      setError(describeError(failure));
    } finally {
      setLoading(false);
    }
  };

  const all = [...(latest.data?.alarms ?? []), ...older];
  const shown = all.filter((a) => matches(a, severity, text.trim()));
  return (
    <section className="card wide" aria-labelledby="alarms-title">
      <h2 id="alarms-title">Alarms on the final chain</h2>
      <p className="muted">
        Contract results that need attention (tampered data, power saving, forced trips, payment notices) and
        receivers' published findings (theft suspects, device faults), newest first.
      </p>
      <div className="filters">
        <label>
          Severity{' '}
          <select value={severity} onChange={(e) => setSeverity(e.target.value)}>
            <option value="all">all</option>
            <option value="critical">critical</option>
            <option value="warning">warning</option>
            <option value="notice">notice</option>
          </select>
        </label>
        <SearchField value={text} placeholder="meter, type, receiver…" onChange={setText} />
        <span className="muted">
          {shown.length} of {all.length} shown
        </span>
      </div>
      {(latest.error ?? error) && <p className="error">{latest.error ?? error}</p>}
      <table className="table" data-testid="alarms">
        <thead>
          <tr>
            <th>when</th>
            <th>severity</th>
            <th>alarm</th>
            <th>meter</th>
            <th>message</th>
            <th>receiver</th>
            <th>block</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((a) => (
            <tr
              key={`${a.transaction}-${a.type}-${a.message}`}
              data-testid="alarm-row"
              data-type={a.type}
              data-meter={a.meterId ?? ''}
            >
              <td className="muted" title={new Date(a.at).toISOString()}>
                {ago(a.at)}
              </td>
              <td>
                <SeverityBadge severity={a.severity} />
              </td>
              <td>
                <b>{a.type}</b>
              </td>
              <td>{a.meterId ?? '—'}</td>
              <td>
                {a.message}
                {a.subjects.length > 1 && (
                  <details>
                    <summary>{a.subjects.length} named</summary>
                    <ul>
                      {a.subjects.map((s) => (
                        <li key={s.id}>
                          {s.id}: {s.codes.join(', ')}
                        </li>
                      ))}
                    </ul>
                  </details>
                )}
              </td>
              <td>{a.receiverId}</td>
              <td title={`transaction ${a.transaction}`}>
                #{a.height} <span className="mono muted">{shortHash(a.transaction)}</span>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {all.length === 0 && latest.data && <p className="muted">No alarm on the final chain yet.</p>}
      {cursor && (
        <button type="button" onClick={() => void loadOlder()} disabled={loading}>
          {loading ? 'Loading…' : 'Older alarms'}
        </button>
      )}
    </section>
  );
}
