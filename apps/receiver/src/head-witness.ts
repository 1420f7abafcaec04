import { Logger } from '@nestjs/common';
import type { Pool, PoolClient } from 'pg';
import { Counter, Gauge, type Registry } from 'prom-client';
import { z } from 'zod';

import { HEAD_DIGEST_TAG, type HeadDigest } from '@app/chain';
import { BlsPublicKey, blsVerify, fromHex, toHex } from '@app/crypto';
import { canonicalJson } from '@app/kernel';

export interface WitnessOptions {
  receiverId: string;
  chainId: string;
  /** The nodes whose signed head digests this receiver keeps (the one it follows, and others). */
  nodeUrls: readonly string[];
  nodeAuthorization: () => string;
  /** The nodes' genesis keys by node id: a digest signed by anyone else is refused. */
  nodeKeys: ReadonlyMap<string, BlsPublicKey>;
  intervalMs: number;
}

/** A signed digest whose final block is not the block of that height that this receiver has seen. */
export interface WitnessConflict {
  nodeId: string;
  height: string;
  /** What the node signed. */
  signedHash: string;
  /** What contradicts it: the block this receiver processed, or another signed digest. */
  otherHash: string;
  other: 'processed-block' | { nodeId: string };
}

export interface WitnessStatus {
  digests: number;
  /** The latest digest kept from each node. */
  latest: Array<{ nodeId: string; finalHeight: string; finalHash: string; signedAt: string }>;
  conflicts: WitnessConflict[];
}

export type DigestOutcome =
  { outcome: 'stored' | 'known'; digest: HeadDigest } | { outcome: 'refused'; reason: string };

const heightText = z.string().regex(/^(0|[1-9][0-9]{0,18})$/);
const hashText = z.string().regex(/^[0-9a-f]{64}$/);
const digestSchema = z
  .object({
    chainId: z.string().min(1).max(128),
    nodeId: z.string().min(1).max(128),
    finalHeight: heightText,
    finalHash: hashText,
    headHeight: heightText,
    headHash: hashText,
    at: z.number().int().nonnegative(),
    signature: z.string().regex(/^[0-9a-f]{192}$/),
  })
  .strict();

/**
 * Keeps the nodes' signed head digests (issue 5): each names a node's final block, signed with the
 * node's genesis key, so a node that later serves another history contradicts its own signature. The
 * digests are checked as they come against the blocks this receiver processed and against each other,
 * and ChainFollower refuses a block that contradicts a kept digest.
 */
export class HeadWitness {
  private readonly logger = new Logger(HeadWitness.name);
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly digestsCounter: Counter<'outcome'>;
  private readonly conflictsGauge: Gauge;
  /** The last refusal per node URL: a node that stays down is logged once, not every turn. */
  private readonly lastRefusal = new Map<string, string>();

  constructor(
    private readonly db: Pool,
    private readonly options: WitnessOptions,
    metrics: Registry,
  ) {
    this.digestsCounter = new Counter({
      name: 'cbsg_receiver_head_digests_total',
      help: "Nodes' signed head digests collected: stored (a new final block), known (kept already) or refused",
      labelNames: ['outcome'],
      registers: [metrics],
    });
    this.conflictsGauge = new Gauge({
      name: 'cbsg_receiver_witness_conflicts',
      help: 'Signed head digests that contradict a processed block or another digest (should be 0)',
      registers: [metrics],
    });
  }

  start(): void {
    if (this.timer) {
      return;
    }
    // The gauge starts from what is stored; after that only a new digest can bring a conflict.
    this.turn(() => this.refreshConflictCount().then(() => this.collectAll()));
    this.timer = setInterval(() => this.turn(() => this.collectAll()), this.options.intervalMs);
    this.timer.unref();
  }

  /** One turn at a time: a turn due while the last one still runs is skipped. */
  private turn(work: () => Promise<unknown>): void {
    this.running ??= work()
      .then(
        () => undefined,
        (error: unknown) => this.logger.error(`collecting head digests failed: ${(error as Error).message}`),
      )
      .finally(() => {
        this.running = undefined;
      });
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One digest from each node; a node that does not answer is skipped until the next turn. */
  async collectAll(): Promise<DigestOutcome[]> {
    const outcomes: DigestOutcome[] = [];
    for (const url of this.options.nodeUrls) {
      outcomes.push(await this.collect(url));
    }
    return outcomes;
  }

  /** Fetches one node's digest, checks it, and keeps it if it names a final block not kept yet. */
  async collect(nodeUrl: string): Promise<DigestOutcome> {
    let body: unknown;
    try {
      const response = await fetch(`${nodeUrl}/chain/digest`, {
        headers: { authorization: this.options.nodeAuthorization() },
        signal: AbortSignal.timeout(10_000),
      });
      if (!response.ok) {
        return this.refused(nodeUrl, `the node answered ${response.status}`);
      }
      body = await response.json();
    } catch (error) {
      return this.refused(nodeUrl, `no answer (${(error as Error).message})`);
    }
    const checked = this.check(body);
    if (typeof checked === 'string') {
      return this.refused(nodeUrl, checked);
    }
    this.lastRefusal.delete(nodeUrl);
    const stored = await this.store(checked);
    this.digestsCounter.inc({ outcome: stored ? 'stored' : 'known' });
    if (stored) {
      const conflicts = await this.conflicts(BigInt(checked.finalHeight));
      for (const conflict of conflicts) {
        this.logger.error(
          `node ${conflict.nodeId} signed block ${conflict.signedHash.slice(0, 16)}… as final at height ${conflict.height}, ` +
            `but ${conflict.other === 'processed-block' ? 'this receiver processed' : `node ${conflict.other.nodeId} signed`} ${conflict.otherHash.slice(0, 16)}…`,
        );
      }
      if (conflicts.length > 0) {
        await this.refreshConflictCount();
      }
    }
    return { outcome: stored ? 'stored' : 'known', digest: checked };
  }

  /**
   * Within the follower's transaction for a block: the signed digests that name another block at its
   * height. A block that contradicts what a node signed is not taken.
   */
  async contradicting(
    client: PoolClient,
    height: bigint,
    hash: Uint8Array,
  ): Promise<Array<{ nodeId: string; finalHash: string }>> {
    const { rows } = await client.query<{ node_id: string; final_hash: Buffer }>(
      `SELECT node_id, final_hash FROM receiver_head_digests
       WHERE receiver_id = $1 AND final_height = $2 AND final_hash <> $3`,
      [this.options.receiverId, height.toString(), Buffer.from(hash)],
    );
    return rows.map((r) => ({ nodeId: r.node_id, finalHash: toHex(r.final_hash) }));
  }

  async status(): Promise<WitnessStatus> {
    const { rows: count } = await this.db.query<{ n: string }>(
      'SELECT count(*) AS n FROM receiver_head_digests WHERE receiver_id = $1',
      [this.options.receiverId],
    );
    const { rows: latest } = await this.db.query<{
      node_id: string;
      final_height: string;
      final_hash: Buffer;
      signed_at: Date;
    }>(
      `SELECT DISTINCT ON (node_id) node_id, final_height, final_hash, signed_at FROM receiver_head_digests
       WHERE receiver_id = $1 ORDER BY node_id, final_height DESC, signed_at DESC`,
      [this.options.receiverId],
    );
    return {
      digests: Number(count[0]!.n),
      latest: latest.map((r) => ({
        nodeId: r.node_id,
        finalHeight: r.final_height,
        finalHash: toHex(r.final_hash),
        signedAt: r.signed_at.toISOString(),
      })),
      conflicts: await this.conflicts(),
    };
  }

  /**
   * Digests that contradict a block this receiver processed, or another digest of the same height
   * (at `height` only, when given).
   */
  async conflicts(height?: bigint): Promise<WitnessConflict[]> {
    const at = height === undefined ? '' : 'AND d.final_height = $2';
    const params =
      height === undefined ? [this.options.receiverId] : [this.options.receiverId, height.toString()];
    const { rows: againstBlocks } = await this.db.query<{
      node_id: string;
      final_height: string;
      final_hash: Buffer;
      block_hash: Buffer;
    }>(
      `SELECT d.node_id, d.final_height, d.final_hash, b.block_hash
       FROM receiver_head_digests d
       JOIN receiver_blocks b ON b.receiver_id = d.receiver_id AND b.height = d.final_height
       WHERE d.receiver_id = $1 AND d.final_hash <> b.block_hash ${at}
       ORDER BY d.final_height, d.node_id`,
      params,
    );
    const { rows: againstDigests } = await this.db.query<{
      node_id: string;
      final_height: string;
      final_hash: Buffer;
      other_node: string;
      other_hash: Buffer;
    }>(
      `SELECT d.node_id, d.final_height, d.final_hash, o.node_id AS other_node, o.final_hash AS other_hash
       FROM receiver_head_digests d
       JOIN receiver_head_digests o ON o.receiver_id = d.receiver_id AND o.final_height = d.final_height
         AND o.final_hash <> d.final_hash AND (o.node_id, o.final_hash) > (d.node_id, d.final_hash)
       WHERE d.receiver_id = $1 ${at}
       ORDER BY d.final_height, d.node_id`,
      params,
    );
    return [
      ...againstBlocks.map((r): WitnessConflict => ({
        nodeId: r.node_id,
        height: r.final_height,
        signedHash: toHex(r.final_hash),
        otherHash: toHex(r.block_hash),
        other: 'processed-block',
      })),
      ...againstDigests.map((r): WitnessConflict => ({
        nodeId: r.node_id,
        height: r.final_height,
        signedHash: toHex(r.final_hash),
        otherHash: toHex(r.other_hash),
        other: { nodeId: r.other_node },
      })),
    ];
  }

  /** The digest, or why it is refused: its shape, its chain, its node, its signature. */
  private check(body: unknown): HeadDigest | string {
    const parsed = digestSchema.safeParse(body);
    if (!parsed.success) {
      return `not a head digest (${parsed.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ')})`;
    }
    const digest = parsed.data;
    if (digest.chainId !== this.options.chainId) {
      return `a digest of chain ${digest.chainId}, not of ${this.options.chainId}`;
    }
    const key = this.options.nodeKeys.get(digest.nodeId);
    if (!key) {
      return `signed as ${digest.nodeId}, which is no node of the genesis`;
    }
    const { signature, ...fields } = digest;
    const valid = blsVerify(
      key,
      { tag: HEAD_DIGEST_TAG, chainId: this.options.chainId },
      Buffer.from(canonicalJson(fields)),
      fromHex(signature, 'signature', 96),
    );
    return valid ? digest : `the signature is not ${digest.nodeId}'s`;
  }

  /** Keeps the digest unless one of the same node and final block is kept already. */
  private async store(digest: HeadDigest): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `INSERT INTO receiver_head_digests
         (receiver_id, node_id, final_height, final_hash, head_height, head_hash, signed_at, signature, received_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, now())
       ON CONFLICT DO NOTHING`,
      [
        this.options.receiverId,
        digest.nodeId,
        digest.finalHeight,
        Buffer.from(digest.finalHash, 'hex'),
        digest.headHeight,
        Buffer.from(digest.headHash, 'hex'),
        new Date(digest.at),
        Buffer.from(digest.signature, 'hex'),
      ],
    );
    return rowCount === 1;
  }

  private refused(nodeUrl: string, reason: string): DigestOutcome {
    this.digestsCounter.inc({ outcome: 'refused' });
    if (this.lastRefusal.get(nodeUrl) !== reason) {
      this.lastRefusal.set(nodeUrl, reason);
      this.logger.warn(`head digest of ${nodeUrl} not kept: ${reason}`);
    }
    return { outcome: 'refused', reason };
  }

  private async refreshConflictCount(): Promise<void> {
    this.conflictsGauge.set((await this.conflicts()).length);
  }
}

/**
 * The genesis nodes' keys by node id, for HeadWitness. Checked with their proofs of possession when
 * the genesis document was loaded (loadGenesis), as PrincipalResolver reads them too.
 */
export function genesisNodeKeys(
  nodes: ReadonlyArray<{ id: string; publicKey: string }>,
): Map<string, BlsPublicKey> {
  return new Map(
    nodes.map((n) => [n.id, BlsPublicKey.fromTrustedBytes(fromHex(n.publicKey, `${n.id}'s key`, 48))]),
  );
}
