import {
  GRID_OPERATOR_FEEDBACK_CONTRACT,
  instantiateContract,
  WATER_HEATER_CONTRACT_EXAMPLE,
} from '@app/contracts';
import { blsGenerateKey, BlsPublicKey, initCrypto, setupSystem, type SystemParams } from '@app/crypto';
import { Transaction } from '@app/ledger';

import { KINDS_LAYING_NOTHING, RegistryOverlay } from './registry-overlay';
import {
  type ContractState,
  decideRegistryTransaction,
  type DelegateState,
  type MeterState,
  type OrganisationState,
  type ReceiverState,
  type RegistryContext,
  type RegistryView,
} from './registry-rules';
import { isRegistryKind } from './transaction-bodies';

const CHAIN_ID = 'cbsg-test';
const OPERATOR = 'grid-operator';
const SUPPLIER = 'equipment-supplier';
const CONTROL_CENTER = 'control-center';
const RECEIVER = 'operator-1';

/** The final state in memory, counting what the rules ask of it. */
class MemoryRegistryView implements RegistryView {
  readonly meterMap = new Map<string, MeterState>();
  readonly contracts: ContractState[] = [];
  readonly reads = { meter: 0, meters: [] as string[][] };

  constructor(
    private readonly organisations: OrganisationState[],
    private readonly receivers: ReceiverState[],
  ) {}

  organisation(id: string): Promise<OrganisationState | undefined> {
    return Promise.resolve(this.organisations.find((o) => o.id === id));
  }

  meter(id: string): Promise<MeterState | undefined> {
    this.reads.meter += 1;
    return Promise.resolve(this.meterMap.get(id));
  }

  meters(ids: readonly string[]): Promise<Map<string, MeterState>> {
    this.reads.meters.push([...ids]);
    return Promise.resolve(
      new Map(ids.flatMap((id) => (this.meterMap.has(id) ? [[id, this.meterMap.get(id)!]] : []))),
    );
  }

  receiver(id: string): Promise<ReceiverState | undefined> {
    return Promise.resolve(this.receivers.find((r) => r.id === id));
  }

  delegate(): Promise<DelegateState | undefined> {
    return Promise.resolve(undefined);
  }

  contract(owner: string, id: string): Promise<ContractState | undefined> {
    const versions = this.contracts.filter((c) => c.owner === owner && c.id === id);
    return Promise.resolve(versions.sort((a, b) => b.version - a.version)[0]);
  }
}

function meterState(id: string): MeterState {
  return {
    id,
    registrar: OPERATOR,
    publicKey: new Uint8Array(48),
    status: 'active',
    dimensions: ['consumption'],
    policy: [{ receiver: RECEIVER, dimensions: ['consumption'] }],
  };
}

let params: SystemParams;
let operatorKey: ReturnType<typeof blsGenerateKey>;
let supplierKey: ReturnType<typeof blsGenerateKey>;
let controlCenterKey: ReturnType<typeof blsGenerateKey>;
let view: MemoryRegistryView;

beforeAll(async () => {
  await initCrypto();
  params = setupSystem().params;
  operatorKey = blsGenerateKey();
  supplierKey = blsGenerateKey();
  controlCenterKey = blsGenerateKey();
});

beforeEach(() => {
  view = new MemoryRegistryView(
    [
      {
        id: OPERATOR,
        name: 'Grid operator',
        roles: ['receiver', 'meter-registrar'],
        publicKey: BlsPublicKey.fromBytes(operatorKey.publicKey),
        stake: 0n,
      },
      {
        id: SUPPLIER,
        name: 'Equipment supplier',
        roles: ['meter-registrar'],
        publicKey: BlsPublicKey.fromBytes(supplierKey.publicKey),
        stake: 0n,
      },
      {
        id: CONTROL_CENTER,
        name: 'Control center',
        roles: ['control-center', 'meter-registrar'],
        publicKey: BlsPublicKey.fromBytes(controlCenterKey.publicKey),
        stake: 0n,
      },
    ],
    [
      {
        id: RECEIVER,
        organisation: OPERATOR,
        role: 'grid-operator',
        publicKey: new Uint8Array(48),
        status: 'active',
      },
    ],
  );
});

function context(): RegistryContext {
  return { chainId: CHAIN_ID, params, now: Date.now(), windowMs: 60_000, futureSkewMs: 5_000 };
}

function contractResult(
  meterIds: readonly string[],
  contractOwner?: (meterId: string) => string,
): Transaction {
  return Transaction.sign(
    {
      chainId: CHAIN_ID,
      kind: 'contract.result',
      sender: OPERATOR,
      timestamp: Date.now(),
      body: {
        receiverId: RECEIVER,
        results: meterIds.map((meterId, i) => ({
          contractId: 'grid-operator/feedback',
          contractVersion: 1,
          ...(contractOwner ? { contractOwner: contractOwner(meterId) } : {}),
          meterId,
          trigger: `report:${i.toString(16).padStart(64, '0')}`,
          input: { consumption: 1.5 },
          resultHash: 'ab'.repeat(32),
          actions: [],
        })),
      },
    },
    operatorKey.secret,
  );
}

describe('decideRegistryTransaction, contract.result', () => {
  it('given results for 200 known meters, when decided, should read the meters in one call, not one each', async () => {
    const ids = Array.from({ length: 200 }, (_, i) => `meter-${i}`);
    ids.forEach((id) => view.meterMap.set(id, meterState(id)));

    const change = await decideRegistryTransaction(contractResult(ids), view, context());

    expect(change).toMatchObject({ type: 'contract-result', organisation: OPERATOR });
    expect(view.reads.meter).toBe(0);
    expect(view.reads.meters).toHaveLength(1);
    expect(new Set(view.reads.meters[0])).toEqual(new Set(ids));
  });

  it("given results naming the sender's contract and the meter's owner's, when decided, should accept them", async () => {
    ['meter-a', 'meter-b'].forEach((id) => view.meterMap.set(id, meterState(id)));
    const owners = (meterId: string) => (meterId === 'meter-a' ? OPERATOR : `owner:${meterId}`);

    await expect(
      decideRegistryTransaction(contractResult(['meter-a', 'meter-b'], owners), view, context()),
    ).resolves.toMatchObject({ type: 'contract-result' });
  });

  it("given a result naming another organisation's contract or another meter's owner's, when decided, should refuse it", async () => {
    ['meter-a', 'meter-b'].forEach((id) => view.meterMap.set(id, meterState(id)));

    for (const foreign of [SUPPLIER, 'owner:meter-b']) {
      await expect(
        decideRegistryTransaction(
          contractResult(['meter-a'], () => foreign),
          view,
          context(),
        ),
      ).rejects.toMatchObject({
        code: 'TX.INVALID_BODY',
        message: expect.stringContaining(`names contract grid-operator/feedback of ${foreign}`) as unknown,
      });
    }
  });

  it('given a result for a meter that is not registered, when decided, should refuse it naming that meter', async () => {
    view.meterMap.set('meter-a', meterState('meter-a'));

    await expect(
      decideRegistryTransaction(contractResult(['meter-a', 'meter-ghost']), view, context()),
    ).rejects.toMatchObject({ code: 'REGISTRY.UNKNOWN', message: 'no meter meter-ghost' });
  });

  it('given a meter registered in a block not final yet, when a result names it through the overlay, should accept it', async () => {
    const overlay = new RegistryOverlay(view);
    await overlay.apply({
      type: 'meter-registered',
      meter: {
        ...meterState('meter-new'),
        epoch: { maxReports: 96, maxAgeMs: 86_400_000 },
        owner: { name: 'Owner', notifyUrl: 'https://owner.example/notify' },
      },
    });
    view.meterMap.set('meter-final', meterState('meter-final'));

    const change = await decideRegistryTransaction(
      contractResult(['meter-new', 'meter-final']),
      overlay,
      context(),
    );

    expect(change.type).toBe('contract-result');
    // The overlay answers for its own meter and asks the final state only for the other.
    expect(view.reads.meters).toEqual([['meter-final']]);
  });
});

describe('decideRegistryTransaction, contract.deploy', () => {
  const deploy = (contract: object) =>
    Transaction.sign(
      {
        chainId: CHAIN_ID,
        kind: 'contract.deploy',
        sender: OPERATOR,
        timestamp: Date.now(),
        body: { receiverId: RECEIVER, contract },
      },
      operatorKey.secret,
    );
  const feedback = (version: number, changes: object = {}) => ({
    ...instantiateContract(GRID_OPERATOR_FEEDBACK_CONTRACT, { owner: OPERATOR, version }),
    ...changes,
  });

  it("given a first deployment of a shipped contract's id at the shipped version, when decided, should refuse it naming the rule", async () => {
    // Another document under (grid-operator/feedback, 1): receivers run the shipped one under that name.
    const other = feedback(GRID_OPERATOR_FEEDBACK_CONTRACT.version, { description: 'my own Algorithm 1' });

    await expect(decideRegistryTransaction(deploy(other), view, context())).rejects.toMatchObject({
      code: 'TX.INVALID_BODY',
      message: expect.stringMatching(
        /version 1 of grid-operator\/feedback is not above the version 1 shipped with the code/,
      ) as unknown,
    });
  });

  it("given a deployment of a shipped example's id at its version, when decided, should refuse it too", async () => {
    const example = instantiateContract(WATER_HEATER_CONTRACT_EXAMPLE, { owner: OPERATOR });

    await expect(decideRegistryTransaction(deploy(example), view, context())).rejects.toMatchObject({
      code: 'TX.INVALID_BODY',
    });
  });

  it("given a first deployment of a shipped contract's id above the shipped version, when decided, should accept it", async () => {
    const change = await decideRegistryTransaction(deploy(feedback(2)), view, context());

    expect(change).toMatchObject({
      type: 'contract-deployed',
      contract: { id: 'grid-operator/feedback', version: 2 },
    });
  });

  it("given another organisation's contract under the same id at a higher version, when decided, should accept this owner's own", async () => {
    // A second grid operator runs its own grid-operator/feedback: ids are their owners' names.
    view.contracts.push({ id: 'grid-operator/feedback', version: 7, owner: 'west-grid-operator' });

    await expect(decideRegistryTransaction(deploy(feedback(2)), view, context())).resolves.toMatchObject({
      type: 'contract-deployed',
      contract: { id: 'grid-operator/feedback', version: 2, owner: OPERATOR },
    });
  });

  it("given this owner's version 3 deployed, when version 3 or below is deployed again, should refuse it naming the deployed version", async () => {
    view.contracts.push({ id: 'grid-operator/feedback', version: 3, owner: OPERATOR });

    for (const version of [2, 3]) {
      await expect(
        decideRegistryTransaction(deploy(feedback(version)), view, context()),
      ).rejects.toMatchObject({
        code: 'TX.INVALID_BODY',
        message: expect.stringContaining(
          `version ${version} of grid-operator/feedback is not above the deployed version 3`,
        ) as unknown,
      });
    }
    await expect(decideRegistryTransaction(deploy(feedback(4)), view, context())).resolves.toMatchObject({
      type: 'contract-deployed',
    });
  });
});

describe('decideRegistryTransaction, meter.revoke', () => {
  function revoke(sender: string, secret: typeof operatorKey.secret, meterId: string): Transaction {
    return Transaction.sign(
      {
        chainId: CHAIN_ID,
        kind: 'meter.revoke',
        sender,
        timestamp: Date.now(),
        body: { meterId, reason: 'stolen' },
      },
      secret,
    );
  }

  beforeEach(() => view.meterMap.set('meter-a', meterState('meter-a')));

  it('given a meter another organisation registered, when a meter registrar revokes it, should refuse it as not its own', async () => {
    await expect(
      decideRegistryTransaction(revoke(SUPPLIER, supplierKey.secret, 'meter-a'), view, context()),
    ).rejects.toMatchObject({
      code: 'TX.NOT_ALLOWED',
      message: `${SUPPLIER} does not own meter meter-a`,
    });
  });

  it('given a meter, when its registrar revokes it, should revoke it', async () => {
    await expect(
      decideRegistryTransaction(revoke(OPERATOR, operatorKey.secret, 'meter-a'), view, context()),
    ).resolves.toEqual({ type: 'meter-revoked', id: 'meter-a', reason: 'stolen' });
  });

  it('given a meter another organisation registered, when the control center revokes it, should revoke it', async () => {
    await expect(
      decideRegistryTransaction(revoke(CONTROL_CENTER, controlCenterKey.secret, 'meter-a'), view, context()),
    ).resolves.toEqual({ type: 'meter-revoked', id: 'meter-a', reason: 'stolen' });
  });
});

describe('RegistryOverlay.meters', () => {
  it('given meters laid over the final state, should answer each once: the overlay before the base, the unknown absent', async () => {
    view.meterMap.set('meter-final', meterState('meter-final'));
    view.meterMap.set('meter-revoked', meterState('meter-revoked'));
    const overlay = new RegistryOverlay(view);
    await overlay.apply({ type: 'meter-revoked', id: 'meter-revoked', reason: 'stolen' });
    view.reads.meters.length = 0;

    const found = await overlay.meters(['meter-final', 'meter-revoked', 'meter-ghost', 'meter-final']);

    expect([...found.keys()].sort()).toEqual(['meter-final', 'meter-revoked']);
    expect(found.get('meter-revoked')?.status).toBe('revoked');
    expect(found.get('meter-final')?.status).toBe('active');
    expect(view.reads.meters).toEqual([['meter-final', 'meter-ghost']]);
  });
});

describe('KINDS_LAYING_NOTHING', () => {
  it('should name registry transaction kinds only', () => {
    expect([...KINDS_LAYING_NOTHING].filter((kind) => !isRegistryKind(kind))).toEqual([]);
  });

  it('given a contract.result decided and laid over the state, should leave every read as the final state answers it', async () => {
    expect(KINDS_LAYING_NOTHING.has('contract.result')).toBe(true);
    view.meterMap.set('meter-a', meterState('meter-a'));
    const overlay = new RegistryOverlay(view);

    await overlay.apply(await decideRegistryTransaction(contractResult(['meter-a']), overlay, context()));

    expect(await overlay.meter('meter-a')).toBe(view.meterMap.get('meter-a'));
    expect(await overlay.receiver(RECEIVER)).toEqual(await view.receiver(RECEIVER));
  });
});
