import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP link on loopback from one node to another that the test can cut and heal: while cut, it
 * refuses new connections and drops open ones, as a firewall rule on the port would.
 */
export class CuttableLink {
  private cut = false;
  private readonly open = new Set<Socket>();
  private readonly server: Server;
  private port = 0;

  private constructor(targetPort: number) {
    this.server = createServer((client) => {
      if (this.cut) {
        client.destroy();
        return;
      }
      const upstream = createConnection({ host: '127.0.0.1', port: targetPort });
      for (const socket of [client, upstream]) {
        this.open.add(socket);
        socket.on('close', () => this.open.delete(socket));
        socket.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
  }

  static async open(targetPort: number): Promise<CuttableLink> {
    const link = new CuttableLink(targetPort);
    await new Promise<void>((resolve) => link.server.listen(0, '127.0.0.1', resolve));
    const address = link.server.address();
    if (!address || typeof address === 'string') {
      throw new Error('the link did not get a port');
    }
    link.port = address.port;
    return link;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  sever(): void {
    this.cut = true;
    for (const socket of this.open) {
      socket.destroy();
    }
  }

  heal(): void {
    this.cut = false;
  }

  async close(): Promise<void> {
    this.sever();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
