import { Logger } from '@nestjs/common';
import { Client } from 'pg';

/**
 * One LISTEN connection per process for the journal's channels (cbsg_events, cbsg_outbox). A
 * notification is only a hint to look now: every consumer also polls, so a notification lost while
 * the connection was down delays work by one poll interval and loses nothing.
 */
export class JournalNotifications {
  private readonly logger = new Logger(JournalNotifications.name);
  private readonly listeners = new Map<string, Set<() => void>>();
  private client: Client | undefined;
  private stopped = false;
  private reconnectTimer: NodeJS.Timeout | undefined;

  constructor(private readonly databaseUrl: string) {}

  on(channel: 'cbsg_events' | 'cbsg_outbox', listener: () => void): () => void {
    let set = this.listeners.get(channel);
    if (!set) {
      set = new Set();
      this.listeners.set(channel, set);
    }
    set.add(listener);
    return () => set.delete(listener);
  }

  async start(): Promise<void> {
    this.stopped = false;
    await this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    const client = new Client({ connectionString: this.databaseUrl, application_name: 'cbsg-listen' });
    client.on('notification', (message) => {
      for (const listener of this.listeners.get(message.channel) ?? []) {
        listener();
      }
    });
    client.on('error', (error) => {
      this.logger.warn(`notification connection lost (${error.message}); polling until it is back`);
      this.scheduleReconnect(client);
    });
    client.on('end', () => this.scheduleReconnect(client));
    try {
      await client.connect();
      await client.query('LISTEN cbsg_events; LISTEN cbsg_outbox');
      this.client = client;
    } catch (error) {
      this.logger.warn(`cannot listen for notifications (${(error as Error).message}); retrying`);
      this.scheduleReconnect(client);
    }
  }

  private scheduleReconnect(client: Client): void {
    if (this.stopped || this.reconnectTimer) {
      return;
    }
    if (this.client === client) {
      this.client = undefined;
    }
    client.end().catch(() => undefined);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.connect();
    }, 1_000);
  }
}
