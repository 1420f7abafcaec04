import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import type { INestApplication } from '@nestjs/common';

import { AdminKeyRepository, issueIdentityToken } from '@app/auth';
import { type MessageType, sealMessage } from '@app/chain';
import { parseControlCenterConfig } from '@app/config';
import { type Consortium, CONSORTIUM_FILES, createConsortium, writeConsortium } from '@app/control-center';
import {
  BlsPublicKey,
  fromHex,
  initCrypto,
  nodeLinkKey,
  type SecretScalar,
  SystemParams,
  writeKeystoreFile,
} from '@app/crypto';
import {
  Block,
  type BlockRules,
  roundOfSlot,
  slotAt,
  slotStart,
  type Timing,
  Transaction,
  type TxKind,
} from '@app/ledger';
import {
  createHolderIdentity,
  fetchPartialKey,
  FleetSimulator,
  type HolderIdentity,
  STANDARD_DIMENSIONS,
  waitForIdentity,
} from '@app/meter-sdk';
import { enrolMeters, enrolReceiver, type EnrolledMeter, type EnrolmentContext } from '@app/devnet';
import { createTestDatabase, type TestDatabase } from '@app/testing';

import { createControlCenterApp } from '../../apps/control-center/src/bootstrap';
import { createNodeApp } from '../../apps/node/src/bootstrap';

/** Tests provoke refusals on purpose; their warnings would bury jest's output (TEST_LOGS=1 shows them). */
const TEST_LOG_LEVEL = process.env.TEST_LOGS ? 'debug' : 'fatal';

/** A genesis node that no process runs: the tests speak as it to the node's peer endpoint. */
export const PEER_NODE = 'node-2';
export const TEST_PASSPHRASE = 'correct horse battery staple';
/** Cheap scrypt for test keystores (the production default costs ~0.3 s per file). */
export const TEST_SCRYPT = { N: 2 ** 14, r: 8, p: 1 };

export const ORGANISATIONS = {
  controlCenter: 'state-grid-cc',
  gridOperator: 'east-grid-operator',
  equipmentSupplier: 'meterworks-supplier',
} as const;

/** Pass as `as` to ConsortiumHarness.get: the call is made with an admin key. */
export const ADMIN = 'admin key';

/**
 * A consortium for end-to-end tests: genesis and keystores in a temporary directory, one node on its
 * own database, and the control center, both listening on free ports.
 */
export class ConsortiumHarness {
  node!: INestApplication;
  /** The node's environment, to start it again on the same database. */
  nodeEnv!: Record<string, string>;
  controlCenter!: INestApplication;
  nodeUrl!: string;
  ccUrl!: string;
  params!: SystemParams;
  private adminKey: string | undefined;

  private constructor(
    readonly consortium: Consortium,
    readonly dir: string,
    readonly db: TestDatabase,
  ) {}

  /**
   * `slotMs`: shorter slots for tests that need many blocks (500 ms by default). `blockRules`: the
   * genesis' block rules (its defaults otherwise).
   */
  static async start(
    options: { nodeEnv?: Record<string, string>; slotMs?: number; blockRules?: Partial<BlockRules> } = {},
  ): Promise<ConsortiumHarness> {
    await initCrypto();
    const consortium = await createConsortium({
      chainId: 'cbsg-e2e',
      organisations: [
        {
          id: ORGANISATIONS.controlCenter,
          name: 'Control center',
          roles: ['control-center', 'meter-registrar', 'receiver'],
          stake: 100,
        },
        {
          id: ORGANISATIONS.gridOperator,
          name: 'East grid operator',
          roles: ['grid-operator', 'meter-registrar', 'receiver', 'delegate-operator'],
          stake: 60,
        },
        {
          id: ORGANISATIONS.equipmentSupplier,
          name: 'Meterworks',
          roles: ['equipment-supplier', 'receiver'],
          stake: 20,
        },
      ],
      delegates: [
        { id: 'delegate-1', organisation: ORGANISATIONS.controlCenter },
        { id: 'delegate-2', organisation: ORGANISATIONS.gridOperator },
        { id: 'delegate-3', organisation: ORGANISATIONS.gridOperator },
      ],
      // node-2 never runs: tests MAC peer messages with its link key to node-1 (PEER_NODE).
      nodes: [
        { id: 'node-1', organisation: ORGANISATIONS.controlCenter },
        { id: PEER_NODE, organisation: ORGANISATIONS.gridOperator },
      ],
      producers: 3,
      slotMs: options.slotMs ?? 500,
      blockRules: options.blockRules,
    });
    const dir = await mkdtemp(path.join(tmpdir(), 'cbsg-e2e-'));
    await writeConsortium(consortium, dir, TEST_PASSPHRASE, { scrypt: TEST_SCRYPT });
    const db = await createTestDatabase();
    const harness = new ConsortiumHarness(consortium, dir, db);
    harness.params = SystemParams.fromJSON(consortium.genesis.systemParams);
    harness.nodeEnv = {
      DATABASE_URL: db.url,
      REDIS_URL: 'redis://127.0.0.1:6379',
      QUEUE_PREFIX: `e2e-${process.pid}-${Date.now()}`,
      GENESIS_FILE: path.join(dir, CONSORTIUM_FILES.genesis),
      LOG_LEVEL: TEST_LOG_LEVEL,
      CRYPTO_WORKERS: '2',
      NODE_ID: 'node-1',
      NODE_KEYSTORE: path.join(dir, CONSORTIUM_FILES.nodeKey('node-1')),
      DELEGATE_KEYSTORES: ['delegate-1', 'delegate-2', 'delegate-3']
        .map((d) => path.join(dir, CONSORTIUM_FILES.delegateKey(d)))
        .join(','),
      KEYSTORE_PASSPHRASE: TEST_PASSPHRASE,
      // One node with 500 ms slots on a loaded CI machine can go 20 slots (10 s) without a final
      // block; holding meters for it is right in a consortium, noise in tests of intake. The tests
      // of the hold set it themselves.
      INTAKE_HOLD_FINALITY_LAG_SLOTS: '0',
      ...options.nodeEnv,
    };
    harness.node = await createNodeApp({ env: harness.nodeEnv });
    await harness.node.listen(0, '127.0.0.1');
    harness.nodeUrl = await harness.node.getUrl();
    harness.controlCenter = await createControlCenterApp(
      parseControlCenterConfig({
        NODE_URL: harness.nodeUrl,
        GENESIS_FILE: path.join(dir, CONSORTIUM_FILES.genesis),
        CC_KEYS_DIR: dir,
        CC_PASSPHRASE: TEST_PASSPHRASE,
        LOG_LEVEL: TEST_LOG_LEVEL,
      }),
    );
    await harness.controlCenter.listen(0, '127.0.0.1');
    harness.ccUrl = await harness.controlCenter.getUrl();
    return harness;
  }

  get chainId(): string {
    return this.consortium.genesis.chainId;
  }

  organisationKey(id: string): SecretScalar {
    const key = this.consortium.organisationKeys.get(id);
    if (!key) {
      throw new Error(`no key for ${id}`);
    }
    return key;
  }

  /** Signs a transaction as `sender` and submits it; returns the node's answer. */
  async submit(
    sender: string,
    kind: TxKind,
    body: object,
    timestamp = Date.now(),
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const tx = Transaction.sign(
      { chainId: this.chainId, kind, sender, timestamp, body },
      this.organisationKey(sender),
    );
    return this.post('/transactions', tx.toJSON());
  }

  async post(
    pathname: string,
    body: unknown,
    authorization?: string,
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const response = await fetch(`${this.nodeUrl}${pathname}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  /**
   * GET on the node, as organisation `as` (its token; the first member by default), or without
   * credentials when `as` is null.
   */
  async get(pathname: string, as?: string | null): Promise<{ status: number; body: unknown }> {
    const caller = as === undefined ? [...this.consortium.organisationKeys.keys()][0]! : as;
    const response = await fetch(`${this.nodeUrl}${pathname}`, {
      headers:
        caller === null
          ? {}
          : {
              authorization: caller === ADMIN ? await this.adminAuthorization() : this.authorization(caller),
            },
    });
    return { status: response.status, body: await response.json() };
  }

  /** An Authorization header value with an admin key of the node (made on first use, as `cbsg admin-key create` does). */
  async adminAuthorization(): Promise<string> {
    if (!this.adminKey) {
      this.adminKey = (await new AdminKeyRepository(this.db.pool).create('test harness')).key;
    }
    return `Bearer ${this.adminKey}`;
  }

  /** fetch() as organisation `id` (a receiver's API answers its own organisation only). */
  fetchAs(id: string, url: string, init: RequestInit = {}): Promise<Response> {
    return fetch(url, {
      ...init,
      headers: {
        ...(init.headers as Record<string, string> | undefined),
        authorization: this.authorization(id),
      },
    });
  }

  /** An Authorization header value for organisation `id` (a fresh token). */
  authorization(id: string): string {
    return `Bearer ${issueIdentityToken(this.organisationKey(id), this.chainId, { kind: 'organisation', id })}`;
  }

  /** Registers a receiver for `organisation` and activates it through the control center. */
  async registerReceiver(organisation: string, receiverId: string, role: string): Promise<HolderIdentity> {
    const holder = createHolderIdentity(receiverId);
    const answer = await this.submit(organisation, 'receiver.register', {
      receiverId,
      role,
      publicKey: holder.publicKey,
      possession: holder.possession,
    });
    if (answer.status !== 202) {
      throw new Error(`receiver.register ${receiverId}: ${answer.status} ${JSON.stringify(answer.body)}`);
    }
    // Registrations and partial keys take effect when their block is final.
    await waitForIdentity(this.nodeUrl, 'receiver', receiverId, 'registered');
    await fetchPartialKey({
      ccUrl: this.ccUrl,
      chainId: this.chainId,
      params: this.params,
      subject: 'receiver',
      holder,
    });
    await waitForIdentity(this.nodeUrl, 'receiver', receiverId, 'active');
    return holder;
  }

  /** Where a receiver process of this consortium reads its keys (writeReceiverKeystore writes them). */
  receiverKeystorePath(receiverId: string): string {
    return path.join(this.dir, 'keys', `receiver-${receiverId}.keystore.json`);
  }

  /** Writes an enrolled receiver's keys to its keystore, sealed with TEST_PASSPHRASE; its path. */
  async writeReceiverKeystore(holder: HolderIdentity): Promise<string> {
    const file = this.receiverKeystorePath(holder.id);
    await writeKeystoreFile(
      file,
      { kind: 'receiver', id: holder.id, publicKey: holder.keys.publicKey, key: holder.keys.secret },
      TEST_PASSPHRASE,
      { scrypt: TEST_SCRYPT },
    );
    return file;
  }

  /** What @app/devnet's enrolment helpers need to register receivers and meters here. */
  enrolment(): EnrolmentContext {
    return {
      nodeUrl: this.nodeUrl,
      ccUrl: this.ccUrl,
      chainId: this.chainId,
      params: this.params,
      organisationKeys: this.consortium.organisationKeys,
    };
  }

  /**
   * The grid operator's billing receiver and one meter (from a fleet of one, seeded) that sends it
   * its consumption: the smallest consortium a test of reports needs.
   */
  async enrolBillingMeter(
    seed: number,
    maxReportsPerEpoch: number,
  ): Promise<{ simulator: FleetSimulator; meter: EnrolledMeter; receiver: HolderIdentity }> {
    const ctx = this.enrolment();
    const receiver = await enrolReceiver(ctx, {
      id: 'operator-billing',
      organisation: ORGANISATIONS.gridOperator,
      role: 'grid-operator',
    });
    const simulator = new FleetSimulator({ seed, meters: 1 });
    const [meter] = await enrolMeters(
      ctx,
      simulator.meters.map((m) => ({
        meterId: m.meterId,
        registrar: ORGANISATIONS.gridOperator,
        dimensions: STANDARD_DIMENSIONS,
        policy: [{ receiver: 'operator-billing', dimensions: ['consumption_kwh'] }],
        epoch: { maxReports: maxReportsPerEpoch, maxAgeMs: 3_600_000 },
        owner: { name: 'owner', notifyUrl: 'https://phones.example/owner' },
      })),
    );
    return { simulator, meter: meter!, receiver };
  }

  /** Sends a peer message to the node, MACed as PEER_NODE (or as `as`, with its key) for node-1. */
  /** The chain's slot timing, from the genesis. */
  get timing(): Timing {
    const { createdAt, consensus } = this.consortium.genesis;
    return { genesisTime: createdAt, slotMs: consensus.slotMs, producers: consensus.producers };
  }

  /**
   * A slot whose block the node has not made yet (its producer acts a tenth into the slot), and its
   * producer. A round's schedule is served once a block after the round two before it is final: on a
   * loaded machine the next round's may not be yet, and then a later slot is tried.
   */
  async upcomingSlot(): Promise<{ slot: bigint; producer: string }> {
    const timing = this.timing;
    const deadline = Date.now() + 30_000;
    for (;;) {
      let slot = slotAt(timing, Date.now()) + 1n;
      if (slotStart(timing, slot) - Date.now() < 250) {
        await new Promise((resolve) => setTimeout(resolve, slotStart(timing, slot) - Date.now() + 10));
        slot += 1n;
      }
      const answer = await this.get(`/schedule?round=${roundOfSlot(timing, slot)}`);
      if (answer.status === 200) {
        const { slots } = answer.body as { slots: Array<{ slot: string; producer: string }> };
        return { slot, producer: slots.find((s) => s.slot === slot.toString())!.producer };
      }
      if (Date.now() > deadline) {
        throw new Error(
          `no schedule for the round of slot ${slot} within 30 s: ${JSON.stringify(answer.body)}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  /** A block on the node's head for `slot`, signed by `signer` (the producer unless a test forges it). */
  async blockOnHead(
    slot: bigint,
    producer: string,
    entries: Block['entries'],
    signer = producer,
  ): Promise<Block> {
    const { head } = (await this.get('/chain/status')).body as { head: { height: string; hash: string } };
    return Block.produce(
      {
        chainId: this.chainId,
        height: BigInt(head.height) + 1n,
        previousHash: fromHex(head.hash, 'head', 32),
        slot,
        timestamp: slotStart(this.timing, slot),
        producer,
        parentCertificate: null,
      },
      entries,
      this.consortium.delegateKeys.get(signer)!,
    );
  }

  async sendAsPeer(
    type: MessageType,
    payload: Record<string, unknown>,
    as: { id: string; key: SecretScalar } = { id: PEER_NODE, key: this.consortium.nodeKeys.get(PEER_NODE)! },
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    return this.post('/p2p/messages', sealMessage(this.linkKeyWithNode(as), as.id, type, payload));
  }

  /** The link key `as` would share with node-1, the node under test (nodeLinkKey). */
  linkKeyWithNode(
    as: { id: string; key: SecretScalar } = { id: PEER_NODE, key: this.consortium.nodeKeys.get(PEER_NODE)! },
  ): Buffer {
    const node = this.consortium.genesis.nodes.find((n) => n.id === 'node-1')!;
    return nodeLinkKey(
      as.key,
      BlsPublicKey.fromBytes(fromHex(node.publicKey, 'node key', 48)),
      this.chainId,
      [as.id, node.id],
    );
  }

  /** Stops the node, leaves it down for `downMs`, and starts it again on the same database and port. */
  async restartNode(downMs = 0): Promise<void> {
    const port = Number(new URL(this.nodeUrl).port);
    await this.node.close();
    await new Promise((resolve) => setTimeout(resolve, downMs));
    this.node = await createNodeApp({ env: this.nodeEnv });
    await this.node.listen(port, '127.0.0.1');
  }

  /** Polls the node until `check` holds for the JSON at `pathname` (final state takes a few slots). */
  async waitFor(
    pathname: string,
    check: (body: Record<string, unknown>) => boolean,
    timeoutMs = 30_000,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { status, body } = await this.get(pathname);
      if (status === 200 && check(body as Record<string, unknown>)) {
        return;
      }
      if (Date.now() > deadline) {
        throw new Error(
          `${pathname} did not reach the expected state in ${timeoutMs} ms (last: ${status} ${JSON.stringify(body)})`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async stop(): Promise<void> {
    await this.controlCenter?.close();
    await this.node?.close();
    await this.db.drop();
    await rm(this.dir, { recursive: true, force: true });
  }
}
