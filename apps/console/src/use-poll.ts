import { useCallback, useEffect, useState } from 'react';

import { api, describeError } from './api';

export interface Polled<T> {
  data: T | undefined;
  /** The last failure; the last good data stays shown meanwhile. */
  error: string | undefined;
  /** Epoch ms of the last good answer. */
  updatedAt: number | undefined;
  /** Ask again now (after an action changed what is shown). */
  refresh: () => void;
}

/**
 * GETs `path` every `intervalMs` while the tab is visible: one request at a time (the next waits
 * for the answer, so a slow node is never flooded), none while the page is hidden. A null path stops.
 */
export function usePoll<T>(path: string | null, intervalMs: number): Polled<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<string>();
  const [updatedAt, setUpdatedAt] = useState<number>();
  const [nudge, setNudge] = useState(0);
  const [shownPath, setShownPath] = useState(path);

  if (shownPath !== path) {
    // Another query: what was shown belongs to the old one.
    setShownPath(path);
    setData(undefined);
    setError(undefined);
  }

  useEffect(() => {
    if (path === null) {
      return undefined;
    }
    let stopped = false;
    let timer: number | undefined;
    let inFlight: AbortController | undefined;
    const tick = async () => {
      if (document.visibilityState === 'visible') {
        inFlight = new AbortController();
        try {
          const answer = await api<T>(path, { signal: inFlight.signal });
          if (!stopped) {
            setData(answer);
            setError(undefined);
            setUpdatedAt(Date.now());
          }
        } catch (failure) {
          if (!stopped) {
            setError(describeError(failure));
          }
        }
      }
      if (!stopped) {
        timer = window.setTimeout(() => void tick(), intervalMs);
      }
    };
    const onVisible = () => {
      if (document.visibilityState === 'visible' && !inFlight) {
        window.clearTimeout(timer);
        void tick();
      }
    };
    document.addEventListener('visibilitychange', onVisible);
    void tick();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
      inFlight?.abort();
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, [path, intervalMs, nudge]);

  const refresh = useCallback(() => setNudge((n) => n + 1), []);
  return { data, error, updatedAt, refresh };
}
