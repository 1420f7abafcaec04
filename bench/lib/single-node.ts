import path from 'node:path';

import { type Consortium, CONSORTIUM_FILES, createConsortium, writeConsortium } from '@app/control-center';
import { SystemParams } from '@app/crypto';
import { type EnrolmentContext, prepareDatabase, type RunningService, startService } from '@app/devnet';

export interface SingleNodeOptions {
  /** Names the chain, the queues and the logs. */
  name: string;
  dir: string;
  passphrase: string;
  databaseUrl: string;
  nodePort: number;
  ccPort: number;
  /** More environment for the node (limits, workers...). */
  nodeEnv: Record<string, string>;
  /** Started services are pushed here, so that the caller stops them whatever happens. */
  services: RunningService[];
}

/** The organisations of a single-node consortium, as owners of the standard receivers. */
export const SINGLE_NODE_OWNERS = {
  controlCenter: 'control-center',
  gridOperator: 'grid-operator',
  equipmentSupplier: 'equipment-supplier',
};

export interface SingleNode {
  consortium: Consortium;
  ctx: EnrolmentContext;
  /** The node's process (whether it still runs, its log). */
  node: RunningService;
}

/**
 * A one-node consortium for benchmarks: genesis and keys in `dir`, the node (one delegate, 2 s slots,
 * on a fresh database) and the control center as processes of their own.
 */
export async function startSingleNode(options: SingleNodeOptions): Promise<SingleNode> {
  const { dir, passphrase } = options;
  const consortium = await createConsortium({
    chainId: `cbsg-bench-${options.name}`,
    organisations: [
      {
        id: 'control-center',
        name: 'CC',
        roles: ['control-center', 'meter-registrar', 'receiver'],
        stake: 100,
      },
      {
        id: 'grid-operator',
        name: 'Operator',
        roles: ['grid-operator', 'meter-registrar', 'receiver'],
        stake: 50,
      },
      { id: 'equipment-supplier', name: 'Supplier', roles: ['equipment-supplier', 'receiver'], stake: 10 },
    ],
    delegates: [{ id: 'delegate-1', organisation: 'control-center' }],
    nodes: [{ id: 'node-1', organisation: 'control-center' }],
    producers: 1,
    slotMs: 2_000,
  });
  await writeConsortium(consortium, dir, passphrase, { scrypt: { N: 2 ** 14, r: 8, p: 1 } });
  await prepareDatabase(options.databaseUrl, { fresh: true });
  const genesisFile = path.join(dir, CONSORTIUM_FILES.genesis);
  const nodeUrl = `http://127.0.0.1:${options.nodePort}`;
  const ccUrl = `http://127.0.0.1:${options.ccPort}`;
  const node = await startService({
    name: 'node',
    entry: 'apps/node/src/main.ts',
    env: {
      DATABASE_URL: options.databaseUrl,
      DATABASE_POOL_SIZE: '20',
      REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
      QUEUE_PREFIX: `bench-${options.name}-${process.pid}`,
      GENESIS_FILE: genesisFile,
      HTTP_PORT: String(options.nodePort),
      LOG_LEVEL: 'warn',
      CRYPTO_WORKERS: '2',
      NODE_ID: 'node-1',
      NODE_KEYSTORE: path.join(dir, CONSORTIUM_FILES.nodeKey('node-1')),
      DELEGATE_KEYSTORES: path.join(dir, CONSORTIUM_FILES.delegateKey('delegate-1')),
      KEYSTORE_PASSPHRASE: passphrase,
      ...options.nodeEnv,
    },
    readyUrl: `${nodeUrl}/health/ready`,
    logDir: dir,
    // BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the node for a flame graph.
    nodeArgs: process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean),
  });
  options.services.push(node);
  options.services.push(
    await startService({
      name: 'control-center',
      entry: 'apps/control-center/src/main.ts',
      env: {
        NODE_URL: nodeUrl,
        GENESIS_FILE: genesisFile,
        CC_KEYS_DIR: dir,
        CC_PASSPHRASE: passphrase,
        HTTP_PORT: String(options.ccPort),
        LOG_LEVEL: 'warn',
      },
      readyUrl: `${ccUrl}/openapi.json`,
      logDir: dir,
    }),
  );
  return {
    consortium,
    node,
    ctx: {
      nodeUrl,
      ccUrl,
      chainId: consortium.genesis.chainId,
      params: SystemParams.fromJSON(consortium.genesis.systemParams),
      organisationKeys: consortium.organisationKeys,
    },
  };
}
