import path from 'node:path';

import { CONSORTIUM_FILES } from '@app/control-center';

import { prepareDatabase, type RunningService, startService } from './services';

/** One accounting node of a local network: its own database, port and hosted delegate keys. */
export interface NetworkNodeSpec {
  id: string;
  databaseUrl: string;
  port: number;
  /** Delegate ids whose keystores this node loads (it produces and votes for them). */
  delegates: readonly string[];
}

export interface NodeNetworkOptions {
  /** A directory written by `cbsg setup` / writeConsortium: genesis.json and keys/. */
  consortiumDir: string;
  passphrase: string;
  nodes: readonly NetworkNodeSpec[];
  redisUrl: string;
  logDir: string;
  /** Prefix of each node's BullMQ queues (the node id is appended). */
  queuePrefix: string;
  /** Drop and re-create the databases first. */
  freshDatabases?: boolean;
  logLevel?: string;
  /** More environment for every node (CRYPTO_WORKERS, MAX_BLOCK_TRANSACTIONS...). */
  env?: Record<string, string>;
  nodeArgs?: string[];
  /** The URL node `from` reaches node `to` at (default: straight to its port); tests put proxies there. */
  peerUrl?: (from: string, to: NetworkNodeSpec) => string;
}

/** A node process of the network that can be killed, stopped and started again on its database. */
export class NetworkNode {
  private service?: RunningService;

  constructor(
    readonly spec: NetworkNodeSpec,
    readonly env: Record<string, string>,
    private readonly options: NodeNetworkOptions,
  ) {}

  get id(): string {
    return this.spec.id;
  }

  get url(): string {
    return `http://127.0.0.1:${this.spec.port}`;
  }

  get running(): boolean {
    return this.service?.running ?? false;
  }

  get process(): RunningService | undefined {
    return this.service;
  }

  async start(): Promise<void> {
    if (this.running) {
      return;
    }
    this.service = await startService(
      {
        name: this.spec.id,
        entry: 'apps/node/src/main.ts',
        env: this.env,
        readyUrl: `${this.url}/health/ready`,
        logDir: this.options.logDir,
        ...(this.options.nodeArgs ? { nodeArgs: this.options.nodeArgs } : {}),
      },
      { timeoutMs: 90_000 },
    );
  }

  /** SIGTERM: the node finishes what it is doing and closes its connections. */
  async stop(): Promise<void> {
    await this.service?.stop();
  }

  /** SIGKILL: a crash, with no chance to flush anything. */
  async kill(): Promise<void> {
    await this.service?.kill();
  }
}

/**
 * Several node processes on this machine that form one consortium network, each peered with all the
 * others: what the devnet, the multi-process tests and the chain benchmark run.
 */
export class NodeNetwork {
  private constructor(
    readonly nodes: readonly NetworkNode[],
    private readonly options: NodeNetworkOptions,
  ) {}

  /** The network's nodes, none started yet (so that a signal handler can stop a half-started network). */
  static create(options: NodeNetworkOptions): NodeNetwork {
    const genesisFile = path.join(options.consortiumDir, CONSORTIUM_FILES.genesis);
    const keystore = (file: string) => path.join(options.consortiumDir, file);
    const nodes = options.nodes.map(
      (spec) =>
        new NetworkNode(
          spec,
          {
            DATABASE_URL: spec.databaseUrl,
            REDIS_URL: options.redisUrl,
            QUEUE_PREFIX: `${options.queuePrefix}-${spec.id}`,
            GENESIS_FILE: genesisFile,
            HTTP_HOST: '127.0.0.1',
            HTTP_PORT: String(spec.port),
            NODE_ID: spec.id,
            NODE_KEYSTORE: keystore(CONSORTIUM_FILES.nodeKey(spec.id)),
            DELEGATE_KEYSTORES: spec.delegates
              .map((d) => keystore(CONSORTIUM_FILES.delegateKey(d)))
              .join(','),
            KEYSTORE_PASSPHRASE: options.passphrase,
            PEERS: options.nodes
              .filter((other) => other.id !== spec.id)
              .map(
                (other) =>
                  `${other.id}=${options.peerUrl?.(spec.id, other) ?? `http://127.0.0.1:${other.port}`}`,
              )
              .join(','),
            LOG_LEVEL: options.logLevel ?? 'info',
            ...options.env,
          },
          options,
        ),
    );
    return new NodeNetwork(nodes, options);
  }

  static async start(options: NodeNetworkOptions): Promise<NodeNetwork> {
    const network = NodeNetwork.create(options);
    await network.start();
    return network;
  }

  /** Prepares each node's database (migrations, or a fresh one) and starts every node, in parallel. */
  async start(): Promise<void> {
    for (const spec of this.options.nodes) {
      await prepareDatabase(spec.databaseUrl, { fresh: this.options.freshDatabases ?? false });
    }
    try {
      await Promise.all(this.nodes.map((node) => node.start()));
    } catch (error) {
      await this.stop();
      throw error;
    }
  }

  node(id: string): NetworkNode {
    const node = this.nodes.find((n) => n.id === id);
    if (!node) {
      throw new Error(`no node ${id} in this network`);
    }
    return node;
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.stop()));
  }

  /** Synchronous last resort for process exit handlers: SIGKILL whatever still runs. */
  killNow(): void {
    for (const node of this.nodes) {
      if (node.running) {
        node.process?.child.kill('SIGKILL');
      }
    }
  }
}

/** Delegates spread over nodes round-robin: node i hosts delegates i, i+n, i+2n... */
export function spreadDelegates(
  delegates: readonly string[],
  nodeCount: number,
  nodeIndex: number,
): string[] {
  return delegates.filter((_, k) => k % nodeCount === nodeIndex);
}
