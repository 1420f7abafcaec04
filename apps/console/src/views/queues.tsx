import { useState } from 'react';

import { api, describeError } from '../api';
import type { QueueState, QueuesView, QueueView, RetryResult } from '../api-types';
import { ago, count } from '../format';
import type { Polled } from '../use-poll';

const SHOWN_STATES: ReadonlyArray<{ state: QueueState; label: string }> = [
  { state: 'waiting', label: 'waiting' },
  { state: 'active', label: 'active' },
  { state: 'delayed', label: 'delayed (retry back-off)' },
  { state: 'prioritized', label: 'prioritized' },
  { state: 'failed', label: 'failed (dead letters)' },
  { state: 'completed', label: 'completed (kept a day)' },
];

function QueueCard({ queue, onChanged }: { queue: QueueView; onChanged: () => void }) {
  const [busy, setBusy] = useState<string>();
  const [outcome, setOutcome] = useState<string>();
  const retry = async (what: string, path: string) => {
    setBusy(what);
    try {
      const result = await api<RetryResult>(path, { method: 'POST' });
      setOutcome(
        `${result.retried} job${result.retried === 1 ? '' : 's'} of ${result.queue} sent back to wait`,
      );
      onChanged();
    } catch (error) {
      setOutcome(`Retry refused: ${describeError(error)}`);
    } finally {
      setBusy(undefined);
    }
  };
  const base = `/admin/queues/${encodeURIComponent(queue.name)}`;
  return (
    <section
      className="card wide"
      aria-labelledby={`queue-${queue.name}`}
      data-testid={`queue-${queue.name}`}
    >
      <h2 id={`queue-${queue.name}`}>
        Queue <code>{queue.name}</code>
      </h2>
      {queue.error && <p className="error">{queue.error}</p>}
      {queue.counts && (
        <dl className="counts">
          {SHOWN_STATES.map(({ state, label }) => (
            <div
              key={state}
              className={state === 'failed' && queue.counts![state] > 0 ? 'count count-bad' : 'count'}
            >
              <dt>{label}</dt>
              <dd data-testid={`count-${state}`}>{count(queue.counts![state])}</dd>
            </div>
          ))}
        </dl>
      )}
      <h3>
        Failed jobs{' '}
        {queue.failed.length > 0 && (
          <button
            type="button"
            disabled={busy !== undefined}
            onClick={() => void retry('all', `${base}/retry-failed`)}
          >
            {busy === 'all' ? 'Retrying…' : 'Retry all failed'}
          </button>
        )}
      </h3>
      {outcome && (
        <p className="muted" role="status">
          {outcome}
        </p>
      )}
      {queue.failed.length === 0 ? (
        <p className="muted">None: every job has succeeded or is still being tried.</p>
      ) : (
        <table className="table">
          <thead>
            <tr>
              <th>job</th>
              <th>name</th>
              <th>reason</th>
              <th className="num">attempts</th>
              <th>failed</th>
              <th>payload</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {queue.failed.map((job) => (
              <tr key={job.id} data-testid="failed-job" data-job={job.id}>
                <td className="mono">{job.id}</td>
                <td>{job.name}</td>
                <td className="error-text">{job.reason}</td>
                <td className="num">{job.attemptsMade}</td>
                <td className="muted">{job.failedAt ? ago(job.failedAt) : '—'}</td>
                <td className="mono small">{job.data}</td>
                <td>
                  <button
                    type="button"
                    disabled={busy !== undefined}
                    onClick={() => void retry(job.id, `${base}/jobs/${encodeURIComponent(job.id)}/retry`)}
                    data-testid="retry-job"
                  >
                    {busy === job.id ? 'Retrying…' : 'Retry'}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

export function QueuesPanel({ queues }: { queues: Polled<QueuesView> }) {
  const outbox = queues.data?.outbox;
  return (
    <div className="grid">
      {queues.error && <p className="error span-2">{queues.error}</p>}
      {queues.data?.queues.map((q) => (
        <QueueCard key={q.name} queue={q} onChanged={queues.refresh} />
      ))}
      {outbox && (
        <section className="card wide" aria-labelledby="outbox-title" data-testid="outbox">
          <h2 id="outbox-title">Outbox (jobs not yet handed to BullMQ)</h2>
          <dl className="counts">
            <div className={outbox.undelivered > 0 ? 'count count-warn' : 'count'}>
              <dt>undelivered</dt>
              <dd>{count(outbox.undelivered)}</dd>
            </div>
            <div className="count">
              <dt>oldest</dt>
              <dd>{outbox.oldestAt ? ago(outbox.oldestAt) : '—'}</dd>
            </div>
          </dl>
          {outbox.stuck.length > 0 && (
            <table className="table">
              <thead>
                <tr>
                  <th>row</th>
                  <th>queue</th>
                  <th>job</th>
                  <th className="num">attempts</th>
                  <th>last error</th>
                  <th>since</th>
                </tr>
              </thead>
              <tbody>
                {outbox.stuck.map((row) => (
                  <tr key={row.id}>
                    <td>{row.id}</td>
                    <td>{row.queue}</td>
                    <td>{row.jobName}</td>
                    <td className="num">{row.attempts}</td>
                    <td className="error-text">{row.lastError ?? ''}</td>
                    <td className="muted">{ago(row.createdAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <p className="muted">
            The relay retries undelivered rows by itself (while Redis is away they wait here); nothing to
            retry by hand.
          </p>
        </section>
      )}
    </div>
  );
}
