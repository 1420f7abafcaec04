import { useCallback, useEffect, useState } from 'react';

import { api, describeError, forgetKey, onSignedOut, storedKey, storeKey } from './api';
import type { AlarmPage, ChainStatus, ConsoleSession, QueuesView } from './api-types';
import { count } from './format';
import { Login } from './login';
import { usePoll } from './use-poll';
import { AlarmsView } from './views/alarms';
import { DelegatesView } from './views/delegates';
import { OverviewView } from './views/overview';
import { QueuesPanel } from './views/queues';
import { RegistryView } from './views/registry';

const TABS = [
  { id: 'overview', label: 'Overview' },
  { id: 'alarms', label: 'Alarms' },
  { id: 'queues', label: 'Queues' },
  { id: 'delegates', label: 'Delegates & votes' },
  { id: 'registry', label: 'Meters & receivers' },
] as const;

type TabId = (typeof TABS)[number]['id'];

function tabOfHash(): TabId {
  const wanted = window.location.hash.slice(1);
  return TABS.find((t) => t.id === wanted)?.id ?? 'overview';
}

/** The open tab lives in the URL's hash: a reload or a shared link opens the same one. */
function useTab(): [TabId, (tab: TabId) => void] {
  const [tab, setTab] = useState<TabId>(tabOfHash);
  useEffect(() => {
    const follow = () => setTab(tabOfHash());
    window.addEventListener('hashchange', follow);
    return () => window.removeEventListener('hashchange', follow);
  }, []);
  const open = useCallback((next: TabId) => {
    window.location.hash = next;
    setTab(next);
  }, []);
  return [tab, open];
}

export function App() {
  const [session, setSession] = useState<ConsoleSession>();
  const [reason, setReason] = useState<string>();
  const [checking, setChecking] = useState(() => storedKey() !== null);

  const accept = useCallback((answer: ConsoleSession) => {
    setSession(answer);
    setReason(undefined);
    setChecking(false);
  }, []);
  const refuse = useCallback((error: unknown) => {
    // 401 and 403 alike: this key does not open the console.
    forgetKey();
    setSession(undefined);
    setReason(`The node refused the key: ${describeError(error)}`);
    setChecking(false);
  }, []);

  const signIn = (key: string) => {
    storeKey(key);
    setChecking(true);
    api<ConsoleSession>('/admin/session').then(accept, refuse);
  };

  useEffect(() => {
    onSignedOut((why) => {
      setSession(undefined);
      setReason(`Signed out: the node refused the key: ${why}`);
    });
    // A reload keeps the tab's key: sign in with it again.
    if (storedKey() !== null) {
      api<ConsoleSession>('/admin/session').then(accept, refuse);
    }
  }, [accept, refuse]);

  const signOut = useCallback(() => {
    forgetKey();
    setSession(undefined);
    setReason(undefined);
  }, []);

  if (!session) {
    return <Login reason={reason} busy={checking} onSubmit={signIn} />;
  }
  return <Console session={session} onSignOut={signOut} />;
}

function Console({ session, onSignOut }: { session: ConsoleSession; onSignOut: () => void }) {
  const [tab, openTab] = useTab();
  // The header and the tab badges are live whatever tab is open.
  const status = usePoll<ChainStatus>('/chain/status', 1_000);
  const alarms = usePoll<AlarmPage>('/admin/alarms?limit=100', 3_000);
  const queues = usePoll<QueuesView>('/admin/queues', 2_000);
  const failedJobs = queues.data?.queues.reduce((sum, q) => sum + (q.counts?.failed ?? 0), 0) ?? 0;
  const criticalAlarms = alarms.data?.alarms.filter((a) => a.severity === 'critical').length ?? 0;
  const head = status.data?.head.height;
  const final = status.data?.final.height;

  return (
    <div className="console">
      <header className="topbar">
        <div className="brand">
          <strong>CBSG console</strong>
          <span className="muted">
            {session.nodeId} · {session.chainId}
          </span>
        </div>
        <div className="heights" aria-live="polite">
          <span>
            head <b data-testid="head-height">{head ?? '…'}</b>
          </span>
          <span>
            final <b data-testid="final-height">{final ?? '…'}</b>
          </span>
          <span className="muted">
            slot {status.data?.currentSlot ?? '…'} · round {status.data?.currentRound ?? '…'}
          </span>
        </div>
        <div
          className={`link ${status.error ? 'link-down' : 'link-up'}`}
          title={status.error ?? 'polling every second'}
        >
          {status.error ? `node unreachable: ${status.error}` : 'live'}
        </div>
        <div className="who">
          <span className="muted" title={`key ${session.keyId}`}>
            {session.name || session.keyId}
          </span>
          <button type="button" className="link-button" onClick={onSignOut}>
            Sign out
          </button>
        </div>
      </header>
      <nav className="tabs" aria-label="Console sections">
        {TABS.map((t) => (
          <button
            key={t.id}
            type="button"
            className={t.id === tab ? 'tab tab-open' : 'tab'}
            aria-current={t.id === tab ? 'page' : undefined}
            onClick={() => openTab(t.id)}
          >
            {t.label}
            {t.id === 'alarms' && criticalAlarms > 0 && (
              <span className="badge badge-critical">{count(criticalAlarms)}</span>
            )}
            {t.id === 'queues' && failedJobs > 0 && (
              <span className="badge badge-critical">{count(failedJobs)}</span>
            )}
          </button>
        ))}
      </nav>
      <main className="content">
        {tab === 'overview' && <OverviewView session={session} status={status.data} alarms={alarms.data} />}
        {tab === 'alarms' && <AlarmsView latest={alarms} />}
        {tab === 'queues' && <QueuesPanel queues={queues} />}
        {tab === 'delegates' && <DelegatesView />}
        {tab === 'registry' && <RegistryView />}
      </main>
    </div>
  );
}
