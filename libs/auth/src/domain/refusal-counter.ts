/**
 * Refused credentials per client address, in fixed windows. A client whose credentials were refused
 * `limit` times in a window is turned away before its next credential costs a signature check; the
 * window is the per-client rate limit's (docs/access.md), so a forger gets no more tries than any
 * client gets requests. Bounded: past `maxClients` addresses, the oldest window is forgotten first.
 */
export class RefusalCounter {
  private readonly windows = new Map<string, { count: number; endsAt: number }>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly maxClients = 10_000,
  ) {}

  /** Seconds until `client` may present credentials again; 0 when it may now. */
  retryAfterSeconds(client: string, now = Date.now()): number {
    const window = this.windows.get(client);
    if (!window || now >= window.endsAt || window.count < this.limit) {
      return 0;
    }
    return Math.max(1, Math.ceil((window.endsAt - now) / 1000));
  }

  /** One more refusal of `client`'s credentials. */
  record(client: string, now = Date.now()): void {
    let window = this.windows.get(client);
    if (!window || now >= window.endsAt) {
      this.windows.delete(client);
      if (this.windows.size >= this.maxClients) {
        this.windows.delete(this.windows.keys().next().value!);
      }
      window = { count: 0, endsAt: now + this.windowMs };
      this.windows.set(client, window);
    }
    window.count += 1;
  }
}
