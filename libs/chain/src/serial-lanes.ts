/** What the chain's queue runs; each kind of task has its lane (laneOf). */
export type ChainTask = 'votes' | 'block' | 'production' | 'finalization' | 'transaction';

type Lane = 'votes' | 'blocks' | 'transactions';

/**
 * Three lanes, served in this order:
 * - votes: a batch costs a pairing check at most, and votes kept behind a backlog of blocks are
 *   quorum certificates, and so finality, that come too late for the next block;
 * - blocks (blocks received, production, finalization): what keeps the node on the chain;
 * - transactions: an admission re-reads the mempool's state after every new head. Served before
 *   blocks, they took the queue of a node restarted under load (250 ms each, two or more a second,
 *   from the operator's contract results), which then took one caught-up block every 10-25 s and
 *   never caught up.
 */
function laneOf(task: ChainTask): Lane {
  if (task === 'votes') {
    return 'votes';
  }
  return task === 'transaction' ? 'transactions' : 'blocks';
}

export interface SerialLanesObserver {
  /** How long a task waited for its turn, then ran (seconds). */
  waited(task: ChainTask, seconds: number): void;
  ran(task: ChainTask, seconds: number): void;
}

/**
 * One task at a time on the block tree, so that it changes one step at a time: a task waits for
 * the one running and for those queued before it in its lane and in the lanes served first.
 */
export class SerialLanes {
  private readonly lanes: Record<Lane, Array<() => Promise<void>>> = {
    votes: [],
    blocks: [],
    transactions: [],
  };
  private draining: Promise<void> | undefined;

  constructor(private readonly observer: SerialLanesObserver) {}

  /** Resolves or rejects as `work` does, once it has had its turn. */
  run<T>(task: ChainTask, work: () => Promise<T>): Promise<T> {
    const queuedAt = performance.now();
    return new Promise<T>((resolve, reject) => {
      this.lanes[laneOf(task)].push(() => {
        const startedAt = performance.now();
        this.observer.waited(task, (startedAt - queuedAt) / 1000);
        return Promise.resolve()
          .then(work)
          .then(resolve, reject)
          .finally(() => this.observer.ran(task, (performance.now() - startedAt) / 1000));
      });
      this.draining ??= this.drain();
    });
  }

  /** Resolves once nothing is queued or running (shutdown waits for it). */
  async idle(): Promise<void> {
    await this.draining;
  }

  private async drain(): Promise<void> {
    for (;;) {
      const next = this.lanes.votes.shift() ?? this.lanes.blocks.shift() ?? this.lanes.transactions.shift();
      if (!next) {
        this.draining = undefined;
        return;
      }
      await next();
    }
  }
}
