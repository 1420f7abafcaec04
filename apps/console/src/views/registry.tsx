import { useEffect, useState } from 'react';

import type { MeterDetail, MeterPage, ReceiverView } from '../api-types';
import { ago } from '../format';
import { usePoll } from '../use-poll';
import { SearchField } from '../search-field';

/** Waits until typing pauses before searching: one request per pause, not per key. */
function useSettled(value: string, delayMs: number): string {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = window.setTimeout(() => setSettled(value), delayMs);
    return () => window.clearTimeout(timer);
  }, [value, delayMs]);
  return settled;
}

function MeterPanel({ id }: { id: string }) {
  const meter = usePoll<MeterDetail>(`/meters/${encodeURIComponent(id)}`, 10_000);
  const m = meter.data;
  return (
    <aside className="card" aria-labelledby="meter-title" data-testid="meter-detail">
      <h2 id="meter-title">Meter {id}</h2>
      {meter.error && <p className="error">{meter.error}</p>}
      {m && (
        <dl className="facts">
          <dt>status</dt>
          <dd>
            {m.status}
            {m.revokedReason ? ` (${m.revokedReason})` : ''}
          </dd>
          <dt>registrar</dt>
          <dd>{m.registrar}</dd>
          <dt>owner</dt>
          <dd>{m.owner?.name ?? '—'}</dd>
          <dt>location</dt>
          <dd>{m.location ?? '—'}</dd>
          <dt>dimensions</dt>
          <dd>{m.dimensions.join(', ')}</dd>
          <dt>shares</dt>
          <dd>
            {m.policy.map((p) => (
              <div key={p.receiver}>
                {p.receiver}: {p.dimensions.join(', ')}
              </div>
            ))}
          </dd>
          <dt>key epoch</dt>
          <dd>
            {m.epoch.maxReports} reports or {Math.round(m.epoch.maxAgeMs / 3_600_000)} h
          </dd>
          <dt>registered</dt>
          <dd>{ago(m.registeredAt)}</dd>
        </dl>
      )}
    </aside>
  );
}

function Meters() {
  const [text, setText] = useState('');
  const [status, setStatus] = useState('');
  const [selected, setSelected] = useState<string>();
  const query = useSettled(text.trim(), 300);
  const params = new URLSearchParams({ limit: '50' });
  if (query) {
    params.set('q', query);
  }
  if (status) {
    params.set('status', status);
  }
  const meters = usePoll<MeterPage>(`/admin/meters?${params.toString()}`, 10_000);
  return (
    <>
      <section className="card" aria-labelledby="meters-title">
        <h2 id="meters-title">Meters</h2>
        <div className="filters">
          <SearchField
            value={text}
            placeholder="meter id or location"
            onChange={setText}
            testId="meter-search"
          />
          <label>
            Status{' '}
            <select value={status} onChange={(e) => setStatus(e.target.value)}>
              <option value="">any</option>
              <option value="active">active</option>
              <option value="registered">registered</option>
              <option value="revoked">revoked</option>
            </select>
          </label>
          {meters.data && (
            <span className="muted">
              {meters.data.meters.length} of {meters.data.total}
            </span>
          )}
        </div>
        {meters.error && <p className="error">{meters.error}</p>}
        <table className="table compact" data-testid="meters">
          <thead>
            <tr>
              <th>meter</th>
              <th>status</th>
              <th>location</th>
              <th>receivers</th>
              <th>last report</th>
            </tr>
          </thead>
          <tbody>
            {meters.data?.meters.map((m) => (
              <tr
                key={m.id}
                className={m.id === selected ? 'row-selected clickable' : 'clickable'}
                onClick={() => setSelected(m.id)}
                data-testid="meter-row"
              >
                <td className="nowrap">
                  <button type="button" className="link-button" onClick={() => setSelected(m.id)}>
                    {m.id}
                  </button>
                </td>
                <td>{m.status}</td>
                <td>{m.location ?? '—'}</td>
                <td>{m.receivers.join(', ')}</td>
                <td>{m.lastReportHeight ? `#${m.lastReportHeight}` : '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      {selected ? (
        <MeterPanel id={selected} />
      ) : (
        <aside className="card">
          <p className="muted">Choose a meter to see its registration, owner and sharing policy.</p>
        </aside>
      )}
    </>
  );
}

function Receivers() {
  const receivers = usePoll<ReceiverView[]>('/receivers', 10_000);
  const [text, setText] = useState('');
  const wanted = text.trim().toLowerCase();
  const shown = (receivers.data ?? []).filter((r) =>
    [r.id, r.organisation, r.role, r.status].some((f) => f.toLowerCase().includes(wanted)),
  );
  return (
    <section className="card wide" aria-labelledby="receivers-title">
      <h2 id="receivers-title">Receivers</h2>
      <div className="filters">
        <SearchField value={text} placeholder="id, organisation, role" onChange={setText} />
      </div>
      {receivers.error && <p className="error">{receivers.error}</p>}
      <table className="table compact" data-testid="receivers">
        <thead>
          <tr>
            <th>receiver</th>
            <th>organisation</th>
            <th>role</th>
            <th>status</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((r) => (
            <tr key={r.id}>
              <td>{r.id}</td>
              <td>{r.organisation}</td>
              <td>{r.role}</td>
              <td>
                {r.status}
                {r.revokedReason ? ` (${r.revokedReason})` : ''}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

export function RegistryView() {
  return (
    <div className="grid grid-list-detail">
      <Meters />
      <Receivers />
    </div>
  );
}
