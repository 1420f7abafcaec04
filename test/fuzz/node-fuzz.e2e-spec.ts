import fc from 'fast-check';

import { MESSAGE_TYPES, sealMessage, type WireBlock } from '@app/chain';
import { enrolMeters, type EnrolledMeter } from '@app/devnet';
import { Transaction } from '@app/ledger';
import { createHolderIdentity, FleetSimulator, STANDARD_DIMENSIONS, standardPolicies } from '@app/meter-sdk';

import { ADMIN, ConsortiumHarness, ORGANISATIONS, PEER_NODE } from '../support/consortium-harness';

/** How long each target is fuzzed (bounded, so the suite's time is known). */
const TIME_PER_TARGET_MS = 8_000;
const SEED = 20_261_127;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** One change to a JSON value: which node (by index in a walk), and what to do there. */
interface Mutation {
  at: number;
  op: 'replace' | 'delete' | 'flip-char' | 'add-field' | 'truncate' | 'whole';
  value: Json;
  char: number;
}

const mutation: fc.Arbitrary<Mutation> = fc.record({
  at: fc.nat(200),
  op: fc.constantFrom('replace', 'delete', 'flip-char', 'add-field', 'truncate', 'whole'),
  value: fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
  char: fc.nat(10_000),
});

/** Every (parent, key) in `value`, depth first, so a mutation can pick one by index. */
function slots(
  value: Json,
  out: Array<{ parent: Json[] | { [key: string]: Json }; key: string | number }> = [],
) {
  if (Array.isArray(value)) {
    value.forEach((item, i) => {
      out.push({ parent: value, key: i });
      slots(item, out);
    });
  } else if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      out.push({ parent: value, key });
      slots(item, out);
    }
  }
  return out;
}

/** `base` with `m` applied, as plain JSON (fast-check builds some objects without a prototype). */
function mutate(base: Json, m: Mutation): Json {
  return JSON.parse(JSON.stringify(mutated(base, m))) as Json;
}

function mutated(base: Json, m: Mutation): Json {
  if (m.op === 'whole') {
    return m.value;
  }
  const copy = JSON.parse(JSON.stringify(base)) as Json;
  const all = slots(copy);
  if (all.length === 0) {
    return m.value;
  }
  const { parent, key } = all[m.at % all.length]!;
  const record = parent as Record<string | number, Json>;
  const current = record[key];
  switch (m.op) {
    case 'replace':
      record[key] = m.value;
      break;
    case 'delete':
      if (Array.isArray(parent)) {
        parent.splice(key as number, 1);
      } else {
        delete record[key];
      }
      break;
    case 'flip-char':
      if (typeof current === 'string' && current.length > 0) {
        const i = m.char % current.length;
        const code = current.charCodeAt(i);
        record[key] =
          current.slice(0, i) + String.fromCharCode(code ^ (1 + (m.char % 7))) + current.slice(i + 1);
      } else {
        record[key] = typeof current === 'number' ? current + 1 + (m.char % 3) : m.value;
      }
      break;
    case 'add-field':
      if (!Array.isArray(parent) && current && typeof current === 'object' && !Array.isArray(current)) {
        (current as Record<string, Json>)[`x${m.char}`] = m.value;
      } else {
        record[key] = m.value;
      }
      break;
    case 'truncate':
      record[key] = typeof current === 'string' ? current.slice(0, m.char % (current.length + 1)) : null;
      break;
  }
  return copy;
}

describe('a node under random and mutated input (fuzz)', () => {
  let harness: ConsortiumHarness;
  let meters: EnrolledMeter[];
  const simulator = new FleetSimulator({ seed: 77, meters: 2 });
  let answers = 0;
  const validReports = new Set<string>();
  const validTransactions = new Set<string>();
  const statuses = new Map<number, number>();

  /** Sends one input; fails the property on a 5xx, a crash, or a refusal without a code and reason. */
  async function send(path: string, body: string): Promise<number> {
    const response = await fetch(`${harness.nodeUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    const text = await response.text();
    answers += 1;
    statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
    if (response.status >= 500) {
      throw new Error(`${path} answered ${response.status} to ${body.slice(0, 300)}: ${text.slice(0, 300)}`);
    }
    if (response.status >= 400) {
      const refusal = JSON.parse(text) as { code?: unknown; message?: unknown };
      if (
        typeof refusal.code !== 'string' ||
        typeof refusal.message !== 'string' ||
        refusal.message.length === 0
      ) {
        throw new Error(`${path} refused without a code and reason: ${text.slice(0, 300)}`);
      }
    }
    return response.status;
  }

  const fuzz = <T>(property: fc.IAsyncProperty<[T]>) =>
    fc.assert(property, { seed: SEED, numRuns: 100_000, interruptAfterTimeLimit: TIME_PER_TARGET_MS });

  beforeAll(async () => {
    harness = await ConsortiumHarness.start();
    const ctx = harness.enrolment();
    await harness.registerReceiver(ORGANISATIONS.controlCenter, 'fuzz-cc', 'control-center');
    await harness.registerReceiver(ORGANISATIONS.gridOperator, 'fuzz-operator', 'grid-operator');
    await harness.registerReceiver(ORGANISATIONS.equipmentSupplier, 'fuzz-supplier', 'equipment-supplier');
    const policies = standardPolicies({
      controlCenter: 'fuzz-cc',
      gridOperator: 'fuzz-operator',
      equipmentSupplier: 'fuzz-supplier',
    });
    meters = await enrolMeters(
      ctx,
      simulator.meters.map((m) => ({
        meterId: m.meterId,
        registrar: ORGANISATIONS.gridOperator,
        dimensions: STANDARD_DIMENSIONS,
        policy: policies[0]!,
        epoch: { maxReports: 1_000, maxAgeMs: 3_600_000 },
        owner: { name: 'owner', notifyUrl: 'https://phones.example/o' },
      })),
    );
  }, 120_000);

  afterAll(async () => {
    process.stdout.write(
      `fuzz: ${answers} inputs, statuses ${JSON.stringify(Object.fromEntries(statuses))}\n`,
    );
    await harness?.stop();
  });

  function freshReport(): Json {
    const meter = meters[0]!;
    const at = Date.now();
    const report = meter.reporter.report(simulator.reading(meter.spec.meterId, at), at);
    validReports.add(report.idHex);
    return report.toJSON() as unknown as Json;
  }

  it('given mutated reports, single and in batches, should refuse each with a reason and never answer 5xx', async () => {
    const base = freshReport();
    await fuzz(
      fc.asyncProperty(mutation, async (m) => void (await send('/reports', JSON.stringify(mutate(base, m))))),
    );
    await fuzz(
      fc.asyncProperty(mutation, async (m) => {
        await send('/reports/batch', JSON.stringify(mutate({ reports: [base, freshReport()] }, m)));
      }),
    );
  }, 60_000);

  it('given mutated signed transactions, should refuse each with a reason and never answer 5xx', async () => {
    const holder = createHolderIdentity('fuzz-meter');
    const tx = Transaction.sign(
      {
        chainId: harness.chainId,
        kind: 'meter.register',
        sender: ORGANISATIONS.gridOperator,
        timestamp: Date.now(),
        body: {
          meterId: 'fuzz-meter',
          publicKey: holder.publicKey,
          possession: holder.possession,
          dimensions: STANDARD_DIMENSIONS,
          policy: meters[0]!.spec.policy,
          epoch: { maxReports: 10, maxAgeMs: 0 },
          owner: { name: 'fuzz', notifyUrl: 'https://phones.example/f' },
        },
      },
      harness.organisationKey(ORGANISATIONS.gridOperator),
    );
    validTransactions.add(tx.hashHex);
    const base = tx.toJSON() as unknown as Json;
    await fuzz(
      fc.asyncProperty(
        mutation,
        async (m) => void (await send('/transactions', JSON.stringify(mutate(base, m)))),
      ),
    );
  }, 60_000);

  it('given mutated peer messages, and validly MACed ones carrying mutated blocks, reports and votes, should refuse each and never answer 5xx', async () => {
    // Parsed again here: JSON from fetch() comes from another realm, which canonical hashing refuses.
    const fetched = ((await harness.get('/p2p/blocks?from=1&limit=1', ADMIN)).body as WireBlock[])[0]!;
    const wire = JSON.parse(JSON.stringify(fetched)) as WireBlock;
    const linkKey = harness.linkKeyWithNode();
    await fuzz(
      fc.asyncProperty(mutation, async (m) => {
        // A real peer's MACed message, then mutated: the MAC no longer holds (or the shape).
        const message = sealMessage(linkKey, PEER_NODE, 'block', { block: wire });
        await send('/p2p/messages', JSON.stringify(mutate(message as unknown as Json, m)));
      }),
    );
    await fuzz(
      fc.asyncProperty(mutation, async (m) => {
        // MACed by a real peer, with a mutated payload: the payload's own checks must refuse it.
        const payload = mutate({ block: wire as unknown as Json }, m);
        const type = MESSAGE_TYPES[m.char % MESSAGE_TYPES.length]!;
        try {
          sealMessage(linkKey, PEER_NODE, type, payload as Record<string, unknown>);
        } catch {
          return; // no peer can MAC what canonical JSON cannot hash; the node's refusal is fuzzed above
        }
        const answer = await harness.sendAsPeer(type, payload as Record<string, unknown>);
        answers += 1;
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        if (answer.status >= 500) {
          throw new Error(
            `a MACed ${type} message answered ${answer.status}: ${JSON.stringify(answer.body)}`,
          );
        }
      }),
    );
  }, 60_000);

  it('given random bytes as bodies, should refuse them as malformed', async () => {
    await fuzz(
      fc.asyncProperty(fc.string({ maxLength: 2_000, unit: 'binary' }), async (text) => {
        for (const path of ['/reports', '/reports/batch', '/transactions', '/p2p/messages']) {
          await send(path, text);
        }
      }),
    );
  }, 60_000);

  it('given the whole run, should have stored nothing but the valid originals and kept a valid chain', async () => {
    const { rows: reports } = await harness.db.pool.query<{ id: Buffer }>('SELECT id FROM mempool_reports');
    const { rows: chained } = await harness.db.pool.query<{ hash: Buffer }>(
      "SELECT hash FROM block_transactions WHERE kind = 'report'",
    );
    for (const id of [...reports.map((r) => r.id), ...chained.map((r) => r.hash)]) {
      expect(validReports.has(id.toString('hex'))).toBe(true);
    }
    const { rows: transactions } = await harness.db.pool.query<{ hash: Buffer }>(
      'SELECT hash FROM mempool_transactions',
    );
    for (const row of transactions) {
      expect(validTransactions.has(row.hash.toString('hex'))).toBe(true);
    }
    expect((await harness.get('/health/ready', null)).status).toBe(200);
    const verify = await harness.post('/chain/verify', {}, await harness.adminAuthorization());
    expect(verify.body).toMatchObject({ ok: true });
    expect(answers).toBeGreaterThan(200);
  }, 120_000);
});
