import type { Report } from '@app/crypto';

export interface SubmitResult {
  ok: boolean;
  status: number;
  /** The receipt (ok) or the refusal { code, message }. */
  body: Record<string, unknown>;
}

export interface RetryPolicy {
  attempts: number;
  firstDelayMs: number;
  maxDelayMs: number;
}

const DEFAULT_RETRY: RetryPolicy = { attempts: 6, firstDelayMs: 200, maxDelayMs: 10_000 };

/**
 * Sends reports to an accounting node. Retries what may succeed later (network errors, 429/503 after
 * their Retry-After, 5xx) with exponential back-off, never waiting more than maxDelayMs; never retries
 * a refusal (4xx): the report would be refused again. Resubmitting an accepted report is harmless: the
 * node answers the same receipt.
 */
export class NodeSubmitter {
  constructor(
    private readonly nodeUrl: string,
    private readonly retry: RetryPolicy = DEFAULT_RETRY,
  ) {}

  submit(report: Report): Promise<SubmitResult> {
    return this.post('/reports', JSON.stringify(report.toJSON()));
  }

  async submitBatch(reports: readonly Report[]): Promise<SubmitResult> {
    return this.post('/reports/batch', JSON.stringify({ reports: reports.map((r) => r.toJSON()) }));
  }

  private async post(path: string, body: string): Promise<SubmitResult> {
    let delay = this.retry.firstDelayMs;
    for (let attempt = 1; ; attempt += 1) {
      let status = 0;
      let parsed: Record<string, unknown>;
      let retryAfterMs: number | undefined;
      try {
        const response = await fetch(`${this.nodeUrl.replace(/\/$/, '')}${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
        });
        status = response.status;
        parsed = (await response.json().catch(() => ({}))) as Record<string, unknown>;
        retryAfterMs = retryAfterMsOf(response.headers.get('retry-after'), Date.now());
        if (response.ok) {
          return { ok: true, status, body: parsed };
        }
        if (status < 500 && status !== 429) {
          return { ok: false, status, body: parsed };
        }
      } catch (error) {
        parsed = { code: 'NETWORK', message: (error as Error).message };
      }
      if (attempt >= this.retry.attempts) {
        return { ok: false, status, body: parsed };
      }
      // Retry-After within maxDelayMs too: one far-off value would hold the meter for hours, and
      // above 2^31 ms setTimeout fires at once.
      await new Promise((resolve) =>
        setTimeout(resolve, Math.min(this.retry.maxDelayMs, retryAfterMs ?? delay)),
      );
      delay = Math.min(this.retry.maxDelayMs, delay * 2);
    }
  }
}

/**
 * A Retry-After in ms: delay-seconds, or an HTTP date (RFC 9110 10.2.3), which a proxy in front of
 * the node may send; undefined when absent, past or unreadable.
 */
export function retryAfterMsOf(value: string | null, now: number): number | undefined {
  if (value === null || value.trim() === '') {
    return undefined;
  }
  const seconds = Number(value);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(value) - now;
  return Number.isFinite(ms) && ms > 0 ? ms : undefined;
}
