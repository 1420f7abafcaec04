import { type ChainTask, SerialLanes } from './serial-lanes';

/** A task that runs until released, so that others queue behind it. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

describe('SerialLanes', () => {
  const observed: Array<{ task: ChainTask; stage: 'wait' | 'run'; seconds: number }> = [];
  const lanes = () =>
    new SerialLanes({
      waited: (task, seconds) => observed.push({ task, stage: 'wait', seconds }),
      ran: (task, seconds) => observed.push({ task, stage: 'run', seconds }),
    });

  beforeEach(() => (observed.length = 0));

  /** A task that notes its name when it runs. */
  const note = (order: string[], name: string) => () => {
    order.push(name);
    return Promise.resolve();
  };

  it('serves votes, then blocks, production and finalization, then transactions, each lane in order', async () => {
    const queue = lanes();
    const order: string[] = [];
    const first = gate();
    const running = queue.run('block', async () => {
      order.push('block 0 (running)');
      await first.opened;
    });
    const queued = [
      queue.run('transaction', note(order, 'transaction 1')),
      queue.run('block', note(order, 'block 1')),
      queue.run('transaction', note(order, 'transaction 2')),
      queue.run('votes', note(order, 'votes 1')),
      queue.run('finalization', note(order, 'finalization 1')),
      queue.run('production', note(order, 'production 1')),
      queue.run('votes', note(order, 'votes 2')),
    ];
    first.open();
    await Promise.all([running, ...queued]);
    expect(order).toEqual([
      'block 0 (running)',
      'votes 1',
      'votes 2',
      'block 1',
      'finalization 1',
      'production 1',
      'transaction 1',
      'transaction 2',
    ]);
  });

  it('runs one task at a time', async () => {
    const queue = lanes();
    let active = 0;
    let most = 0;
    const task = async () => {
      active += 1;
      most = Math.max(most, active);
      await new Promise((resolve) => setTimeout(resolve, 2));
      active -= 1;
    };
    await Promise.all(
      (['block', 'votes', 'transaction', 'production', 'finalization', 'block'] as const).map((t) =>
        queue.run(t, task),
      ),
    );
    expect(most).toBe(1);
  });

  it('gives each task its own result or error, and goes on after a failure', async () => {
    const queue = lanes();
    const failing = queue.run('transaction', () => Promise.reject(new Error('refused')));
    const next = queue.run('transaction', () => Promise.resolve(42));
    await expect(failing).rejects.toThrow('refused');
    await expect(next).resolves.toBe(42);
  });

  it('reports how long each task waited and ran, and is idle once all are done', async () => {
    const queue = lanes();
    const first = gate();
    const running = queue.run('block', () => first.opened);
    const waiting = queue.run('transaction', () => Promise.resolve());
    await new Promise((resolve) => setTimeout(resolve, 20));
    first.open();
    await Promise.all([running, waiting]);
    await queue.idle();
    const transactionWait = observed.find((o) => o.task === 'transaction' && o.stage === 'wait')!;
    const blockRun = observed.find((o) => o.task === 'block' && o.stage === 'run')!;
    expect(transactionWait.seconds).toBeGreaterThanOrEqual(0.015);
    expect(blockRun.seconds).toBeGreaterThanOrEqual(0.015);
    expect(observed.filter((o) => o.stage === 'run')).toHaveLength(2);
  });
});
