import { GRID_OPERATOR_FEEDBACK_CONTRACT, instantiateContract } from '@app/contracts';
import { enrolMeters, enrolStandardReceivers, type EnrolledMeter } from '@app/devnet';
import { FleetSimulator, STANDARD_DIMENSIONS, standardPolicies } from '@app/meter-sdk';

import { ADMIN, ConsortiumHarness, ORGANISATIONS } from '../../../test/support/consortium-harness';
import { expectInvalidParameter } from '../../../test/support/invalid-parameter';

const RECEIVERS = {
  controlCenter: 'cc-analytics',
  gridOperator: 'operator-billing',
  equipmentSupplier: 'supplier-maintenance',
};

interface BlockSummary {
  height: string;
  hash: string;
  producer: string;
}

describe('paging through the lists of a node', () => {
  let harness: ConsortiumHarness;
  let meters: EnrolledMeter[];
  const simulator = new FleetSimulator({ seed: 11, meters: 2 });

  async function finalHeight(): Promise<bigint> {
    return BigInt(((await harness.get('/chain/status')).body as { final: { height: string } }).final.height);
  }

  /** Every page of a list from the first, `pause` ms apart; the query string holds the order and filters. */
  async function allPages<T>(
    pathname: string,
    key: string,
    query: Record<string, string>,
    pause = 0,
    as?: string,
  ): Promise<{ items: T[]; pages: number }> {
    const items: T[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const search = new URLSearchParams({ ...query, ...(cursor === null ? {} : { cursor }) });
      const { status, body } = await harness.get(`${pathname}?${search.toString()}`, as);
      expect({ pathname, status }).toEqual({ pathname, status: 200 });
      const page = body as Record<string, unknown> & { next: string | null };
      items.push(...(page[key] as T[]));
      cursor = page.next;
      pages += 1;
      if (pause > 0) {
        await new Promise((resolve) => setTimeout(resolve, pause));
      }
    } while (cursor !== null);
    return { items, pages };
  }

  function heights(blocks: BlockSummary[]): bigint[] {
    return blocks.map((b) => BigInt(b.height));
  }

  /** first, first+step, ... for `count` values */
  function run(first: bigint, count: number, step: bigint): bigint[] {
    return Array.from({ length: count }, (_, i) => first + BigInt(i) * step);
  }

  beforeAll(async () => {
    harness = await ConsortiumHarness.start();
    const ctx = harness.enrolment();
    await enrolStandardReceivers(ctx, RECEIVERS, ORGANISATIONS);
    const policies = standardPolicies(RECEIVERS);
    meters = await enrolMeters(
      ctx,
      simulator.meters.map((m, i) => ({
        meterId: m.meterId,
        registrar: ORGANISATIONS.gridOperator,
        dimensions: STANDARD_DIMENSIONS,
        policy: policies[i % policies.length]!,
        epoch: { maxReports: 16, maxAgeMs: 3_600_000 },
        owner: { name: `owner ${i}`, notifyUrl: `https://phones.example/${i}` },
      })),
    );
  });

  afterAll(async () => {
    await harness?.stop();
  });

  it('given blocks being added while a reader pages oldest first, every final block should come exactly once, in order', async () => {
    const atStart = await finalHeight();
    // Two blocks a page, a pause between pages: the chain (a block every 500 ms) grows meanwhile.
    const { items, pages } = await allPages<BlockSummary>(
      '/blocks',
      'blocks',
      { order: 'asc', limit: '2' },
      150,
    );
    const atEnd = await finalHeight();
    expect(atEnd).toBeGreaterThan(atStart);
    expect(pages).toBeGreaterThan(2);
    const seen = heights(items);
    expect(seen).toEqual(run(1n, seen.length, 1n));
    // It read past the height that was final when it started: the blocks added on the way too.
    expect(seen.at(-1)!).toBeGreaterThan(atStart);
    // The same blocks as one read of that range gives.
    const whole = (await harness.get(`/blocks?order=asc&limit=100&toHeight=${seen.at(-1)!}`)).body as {
      blocks: BlockSummary[];
    };
    expect(items).toEqual(whole.blocks);
  });

  it('given blocks being added while a reader pages newest first, it should see each block below its first page once, down to height 1', async () => {
    const { items } = await allPages<BlockSummary>('/blocks', 'blocks', { limit: '3' }, 150, ADMIN);
    const seen = heights(items);
    expect(seen.at(-1)).toBe(1n);
    expect(seen).toEqual(run(seen[0]!, seen.length, -1n));
    expect(await finalHeight()).toBeGreaterThan(seen[0]!);
  });

  it('given height bounds and a producer, should return only those blocks, paged the same way', async () => {
    const range = (await harness.get('/blocks?order=asc&fromHeight=2&toHeight=5&limit=3')).body as {
      blocks: BlockSummary[];
      next: string | null;
    };
    expect(heights(range.blocks)).toEqual([2n, 3n, 4n]);
    expect(range.next).toBe('4');
    const rest = (await harness.get(`/blocks?order=asc&fromHeight=2&toHeight=5&limit=3&cursor=${range.next}`))
      .body as { blocks: BlockSummary[]; next: string | null };
    expect(heights(rest.blocks)).toEqual([5n]);
    expect(rest.next).toBeNull();

    const top = await finalHeight();
    const everything = (await harness.get(`/blocks?order=asc&toHeight=${top}&limit=100`)).body as {
      blocks: BlockSummary[];
    };
    const byDelegate2 = await allPages<BlockSummary>('/blocks', 'blocks', {
      order: 'asc',
      toHeight: String(top),
      producer: 'delegate-2',
      limit: '2',
    });
    expect(byDelegate2.items.length).toBeGreaterThan(0);
    expect(byDelegate2.items).toEqual(everything.blocks.filter((b) => b.producer === 'delegate-2'));
    // The older query form still works: ?before=<height> is "below that height", newest first.
    const before = (await harness.get('/blocks?before=4')).body as { blocks: BlockSummary[] };
    expect(heights(before.blocks)).toEqual([3n, 2n, 1n]);
  });

  it('given a block with several transactions, its transactions should page by position and filter by kind and meter', async () => {
    const now = Date.now();
    const reports = meters.flatMap((m) =>
      [0, 1, 2].map((k) => m.reporter.report(simulator.reading(m.spec.meterId, now + k), now + k)),
    );
    expect(
      (await harness.post('/reports/batch', { reports: reports.map((r) => r.toJSON()) })).body,
    ).toMatchObject({ accepted: reports.length });
    for (const report of reports) {
      await harness.waitFor(`/transactions/${report.idHex}`, (b) => b.status === 'final');
    }
    const where = (await harness.get(`/transactions/${reports[0]!.idHex}`)).body as { height: string };
    const block = (await harness.get(`/blocks/${where.height}`)).body as {
      transactions: Array<{ position: number; hash: string; kind: string; meterId: string | null }>;
    };
    expect(block.transactions.length).toBeGreaterThan(1);

    const paged = await allPages<(typeof block.transactions)[number]>(
      `/blocks/${where.height}/transactions`,
      'transactions',
      { limit: '1' },
    );
    expect(paged.items).toEqual(block.transactions);
    expect(paged.pages).toBe(block.transactions.length);

    const meterId = meters[0]!.spec.meterId;
    const ofMeter = (await harness.get(`/blocks/${where.height}/transactions?kind=report&meterId=${meterId}`))
      .body as { height: string; transactions: typeof block.transactions; next: string | null };
    expect(ofMeter).toEqual({
      height: where.height,
      transactions: block.transactions.filter((t) => t.kind === 'report' && t.meterId === meterId),
      next: null,
    });
    expect((await harness.get('/blocks/999999999/transactions')).status).toBe(404);
  });

  it("given delegates, two versions of a contract and another owner's contract of the same id, their lists should page by id (a contract's versions by version) and each owner's versions rise on their own", async () => {
    const delegates = await allPages<{ id: string; organisation: string }>('/delegates', 'delegates', {
      limit: '1',
    });
    expect(delegates.items.map((d) => d.id)).toEqual(['delegate-1', 'delegate-2', 'delegate-3']);
    const operated = (
      await harness.get(`/delegates?organisation=${ORGANISATIONS.gridOperator}&status=active`)
    ).body as { delegates: Array<{ id: string }>; next: string | null };
    expect(operated).toMatchObject({ delegates: [{ id: 'delegate-2' }, { id: 'delegate-3' }], next: null });

    // Above the version shipped with the code (1), which only the shipped document may carry. The
    // control center names its own contract as the operator does: a contract id is its owner's name.
    const deployments = [
      { owner: ORGANISATIONS.gridOperator, receiverId: RECEIVERS.gridOperator, version: 2 },
      { owner: ORGANISATIONS.gridOperator, receiverId: RECEIVERS.gridOperator, version: 3 },
      { owner: ORGANISATIONS.controlCenter, receiverId: RECEIVERS.controlCenter, version: 2 },
    ];
    for (const { owner, receiverId, version } of deployments) {
      const contract = instantiateContract(GRID_OPERATOR_FEEDBACK_CONTRACT, { owner, version });
      const submitted = await harness.submit(owner, 'contract.deploy', { receiverId, contract });
      expect({ owner, version, status: submitted.status }).toEqual({ owner, version, status: 202 });
      const query = new URLSearchParams({ id: contract.id, owner });
      await harness.waitFor(
        `/contracts?${query.toString()}`,
        (body) => (body as { contracts: Array<{ version: number }> }).contracts[0]?.version === version,
      );
    }
    const contractId = GRID_OPERATOR_FEEDBACK_CONTRACT.id;
    const latest = await allPages<{ id: string; owner: string; version: number }>('/contracts', 'contracts', {
      limit: '1',
    });
    expect(latest.items.map(({ id, owner, version }) => ({ id, owner, version }))).toEqual([
      { id: contractId, owner: ORGANISATIONS.gridOperator, version: 3 },
      { id: contractId, owner: ORGANISATIONS.controlCenter, version: 2 },
    ]);
    const versions = await allPages<{ owner: string; version: number }>('/contracts', 'contracts', {
      id: contractId,
      limit: '1',
    });
    // Newest first; one version of two owners by owner, last first.
    expect(versions.items.map(({ owner, version }) => `${version} ${owner}`)).toEqual([
      `3 ${ORGANISATIONS.gridOperator}`,
      `2 ${ORGANISATIONS.controlCenter}`,
      `2 ${ORGANISATIONS.gridOperator}`,
    ]);
    const operators = await allPages<{ version: number }>('/contracts', 'contracts', {
      id: contractId,
      owner: ORGANISATIONS.gridOperator,
    });
    expect(operators.items.map((c) => c.version)).toEqual([3, 2]);
    expect(
      ((await harness.get(`/contracts?owner=${ORGANISATIONS.equipmentSupplier}`)).body as { contracts: [] })
        .contracts,
    ).toEqual([]);

    // Each owner's versions rise on their own: the control center cannot go back to its version 2.
    const again = await harness.submit(ORGANISATIONS.controlCenter, 'contract.deploy', {
      receiverId: RECEIVERS.controlCenter,
      contract: instantiateContract(GRID_OPERATOR_FEEDBACK_CONTRACT, {
        owner: ORGANISATIONS.controlCenter,
        version: 2,
      }),
    });
    expect(again.body).toMatchObject({
      code: 'TX.INVALID_BODY',
      message: expect.stringContaining(
        'version 2 of grid-operator/feedback is not above the deployed version 2',
      ) as unknown,
    });
  });

  it('given the node down for a while, its missed slots should page newest first and filter by round and delegate', async () => {
    const before = await finalHeight();
    await harness.restartNode(2_000);
    await harness.waitFor('/missed-slots', (body) => (body.missedSlots as unknown[]).length > 0);
    await harness.waitFor(
      '/chain/status',
      (body) => BigInt((body.final as { height: string }).height) > before + 2n,
    );
    const all = (await harness.get('/missed-slots?limit=500')).body as {
      missedSlots: Array<{ slot: string; round: string; delegate: string }>;
    };
    const paged = await allPages<{ slot: string; round: string; delegate: string }>(
      '/missed-slots',
      'missedSlots',
      { limit: '1' },
    );
    expect(paged.items).toEqual(all.missedSlots);
    const slots = paged.items.map((m) => BigInt(m.slot));
    expect(slots).toEqual([...slots].sort((a, b) => (a < b ? 1 : -1)));

    const oldestFirst = await allPages<{ slot: string }>('/missed-slots', 'missedSlots', {
      order: 'asc',
      limit: '2',
    });
    expect(oldestFirst.items).toEqual([...all.missedSlots].reverse());

    const { round, delegate } = all.missedSlots[0]!;
    const filtered = (await harness.get(`/missed-slots?round=${round}&delegate=${delegate}`)).body as {
      missedSlots: typeof all.missedSlots;
    };
    expect(filtered.missedSlots).toEqual(
      all.missedSlots.filter((m) => m.round === round && m.delegate === delegate),
    );
  });

  it('given a bad limit, cursor or filter, every list should answer 400 naming the parameter', async () => {
    const cases: Array<[string, string]> = [
      ['/blocks?limit=0', 'limit'],
      ['/blocks?limit=101', 'limit'],
      ['/blocks?limit=ten', 'limit'],
      ['/blocks?limit=1&limit=2', 'limit'],
      ['/blocks?cursor=abc', 'cursor'],
      ['/blocks?cursor=-1', 'cursor'],
      ['/blocks?order=sideways', 'order'],
      ['/blocks?fromHeight=1.5', 'fromHeight'],
      ['/blocks?producer=%20nobody', 'producer'],
      ['/blocks/1/transactions?limit=1001', 'limit'],
      ['/blocks/1/transactions?cursor=99999999999', 'cursor'],
      ['/blocks/1/transactions?kind=gift', 'kind'],
      ['/blocks/x/transactions', 'height'],
      ['/missed-slots?limit=-5', 'limit'],
      ['/missed-slots?cursor=slot-3', 'cursor'],
      ['/missed-slots?round=r1', 'round'],
      ['/delegates?limit=501', 'limit'],
      ['/delegates?cursor=%2Fetc', 'cursor'],
      ['/delegates?status=asleep', 'status'],
      ['/contracts?limit=0', 'limit'],
      ['/contracts?id=grid-operator%2Ffeedback&cursor=v2', 'cursor'],
      ['/contracts?id=grid-operator%2Ffeedback&cursor=2', 'cursor'],
      ['/contracts?id=grid-operator%2Ffeedback&cursor=2%2C', 'cursor'],
      ['/contracts?cursor=grid-operator%2Ffeedback', 'cursor'],
      ['/contracts?cursor=%2Cstate-grid-cc', 'cursor'],
    ];
    for (const [pathname, parameter] of cases) {
      await expectInvalidParameter(harness, pathname, parameter);
    }
  });

  it('given GET /openapi.json, should serve the document with the main paths and their paging parameters, and /docs to browse it', async () => {
    const response = await fetch(`${harness.nodeUrl}/openapi.json`);
    expect(response.status).toBe(200);
    const document = (await response.json()) as {
      openapi: string;
      paths: Record<
        string,
        Record<string, { parameters?: Array<{ name: string; schema?: { maximum?: number } }> }>
      >;
    };
    expect(document.openapi).toMatch(/^3\./);
    for (const path of [
      '/chain/status',
      '/chain/digest',
      '/blocks',
      '/blocks/{height}',
      '/blocks/{height}/transactions',
      '/transactions/{hash}',
      '/tx/{hash}/proof',
      '/missed-slots',
      '/schedule',
      '/delegates',
      '/contracts',
      '/meters/{id}',
      '/receivers',
      '/reports',
      '/reports/batch',
      '/transactions',
    ]) {
      expect(Object.keys(document.paths)).toContain(path);
    }
    const blockParameters = document.paths['/blocks']!.get!.parameters!;
    expect(blockParameters.map((p) => p.name)).toEqual(
      expect.arrayContaining(['cursor', 'limit', 'order', 'fromHeight', 'toHeight', 'producer']),
    );
    expect(blockParameters.find((p) => p.name === 'limit')?.schema?.maximum).toBe(100);
    for (const path of ['/missed-slots', '/delegates', '/contracts', '/blocks/{height}/transactions']) {
      expect(document.paths[path]!.get!.parameters!.map((p) => p.name)).toEqual(
        expect.arrayContaining(['cursor', 'limit']),
      );
    }
    const docs = await fetch(`${harness.nodeUrl}/docs`);
    expect(docs.status).toBe(200);
    expect(docs.headers.get('content-type')).toMatch(/text\/html/);
  });
});
