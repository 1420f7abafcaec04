import { createHash } from 'node:crypto';

import { Logger } from '@nestjs/common';
import { type Job, Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { Pool, PoolClient } from 'pg';
import { Counter, Gauge, type Registry } from 'prom-client';

import {
  compileContract,
  type CompiledContract,
  ContractError,
  type ContractEvaluation,
  GRID_OPERATOR_FEEDBACK_CONTRACT,
  type InputValue,
  instantiateContract,
} from '@app/contracts';
import { type SecretScalar } from '@app/crypto';
import { OutboxRelay, ProcessedJobs } from '@app/event-store';
import { OWNER_SENDER_PREFIX } from '@app/ledger';

import type { BlockReadings } from './chain-follower';
import { ContractResultPublisher, OWNER_RESULT_SEPARATOR } from './contract-result-publisher';
import { NodeMeters } from './node-meters';
import type { SentTransactions } from './sent-transactions';
import {
  NOTIFICATION_HEADERS,
  type NotificationBody,
  type NotificationSignature,
  parseNotificationBody,
  signNotifications,
} from './notification-signature';
import { WebhookClient } from './webhook-client';

/** BullMQ job ids may not hold ':': a job's logical key, hashed. */
function jobId(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('hex');
}

/** Actions the meter carries out itself: they also go to its command queue. */
export const METER_COMMAND_TYPES: ReadonlySet<string> = new Set([
  'power-saving-mode',
  'forced-trip',
  're-upload-alarm',
  // An owner's device contract switches appliances behind the meter (paper III.F).
  'device-on',
  'device-off',
]);

/** Domain of a meter's signature on its command requests: "<verb>:<meter>[:<command>]:<timestamp>". */
export const METER_COMMANDS_TAG = 'CBSG-METER-COMMANDS-V1';

const QUEUES = {
  evaluations: 'contract-evaluations',
  publications: 'chain-publications',
  notifications: 'notifications',
} as const;

/** What the operator keeps per meter; a meter without a row is a postpaid meter with no arrears. */
export interface OperatorAccount {
  prepaid: boolean;
  prepaid_balance: number;
  prepaid_low_level: number;
  arrears: number;
  arrears_level: number;
  serious_arrears_level: number;
  threshold_value: number;
  latest_price: number;
}

/**
 * Stores the operator's data for a meter (PUT /accounts/:meterId), raising its version on each
 * change; Algorithm 1 uses it from the next report on. Returns the version stored.
 */
export async function saveOperatorAccount(
  sql: Pick<Pool, 'query'>,
  meterId: string,
  a: OperatorAccount,
): Promise<number> {
  const { rows } = await sql.query<{ version: number }>(
    `INSERT INTO operator_accounts (meter_id, version, prepaid, prepaid_balance, prepaid_low_level, arrears, arrears_level,
                                    serious_arrears_level, threshold_value, latest_price, updated_at)
     VALUES ($1, 1, $2, $3, $4, $5, $6, $7, $8, $9, now())
     ON CONFLICT (meter_id) DO UPDATE SET version = operator_accounts.version + 1, prepaid = EXCLUDED.prepaid,
       prepaid_balance = EXCLUDED.prepaid_balance, prepaid_low_level = EXCLUDED.prepaid_low_level,
       arrears = EXCLUDED.arrears, arrears_level = EXCLUDED.arrears_level,
       serious_arrears_level = EXCLUDED.serious_arrears_level, threshold_value = EXCLUDED.threshold_value,
       latest_price = EXCLUDED.latest_price, updated_at = now()
     RETURNING version`,
    [
      meterId,
      a.prepaid,
      a.prepaid_balance,
      a.prepaid_low_level,
      a.arrears,
      a.arrears_level,
      a.serious_arrears_level,
      a.threshold_value,
      a.latest_price,
    ],
  );
  return rows[0]!.version;
}

export const DEFAULT_ACCOUNT: OperatorAccount = {
  prepaid: false,
  prepaid_balance: 0,
  prepaid_low_level: 5,
  arrears: 0,
  arrears_level: 20,
  serious_arrears_level: 200,
  threshold_value: 5,
  latest_price: 0.27,
};

export interface FeedbackContractOptions {
  receiverId: string;
  organisationId: string;
  organisationKey: SecretScalar;
  chainId: string;
  nodeUrl: string;
  /** An Authorization header for the node (the organisation's token). */
  nodeAuthorization: () => string;
  redisUrl: string;
  queuePrefix: string;
  notifyAttempts: number;
}

/** One share to answer: the reading's consumption, or that it was tampered with. */
interface Evaluation {
  meterId: string;
  reportId: string;
  consumption: number | null;
  tampered: boolean;
}

/** A block's shares, answered in one job and one database transaction. */
interface BlockEvaluationJob {
  height: string;
  evaluations: Evaluation[];
}

/** The results of one evaluation job, published together (keys of contract_results). */
interface PublicationJob {
  keys: string[];
}

type OutboxRow = [queue: string, name: string, id: string, payload: unknown];

/** An action as a contract.result transaction records it (the registry's contractResultBody). */
export interface ChainAction {
  id: string;
  type: string;
  message: string;
}

/** An action as the meter owner's endpoint receives it: with its parameters (the price, the amount owed). */
export interface DeliveredAction extends ChainAction {
  params?: Record<string, InputValue | null>;
}

/**
 * The actions of an evaluation, in result order, as they are delivered. The chain records each one's
 * id, type and message (chainAction), and anyone re-derives the parameters from the input the result
 * carries; the owner is told the parameters themselves: "the latest price" is no use without the price.
 */
export function deliveredActions(evaluation: ContractEvaluation): DeliveredAction[] {
  return evaluation.result.functions.flatMap((f) =>
    f.actions.map((a) => ({
      id: a.actionId,
      type: a.type,
      message: a.message,
      ...(a.params === undefined ? {} : { params: a.params }),
    })),
  );
}

export function chainAction(action: DeliveredAction): ChainAction {
  return { id: action.id, type: action.type, message: action.message };
}

/** One contract's result for one trigger, as contract_results keeps it under `key`. */
interface ResultRow {
  key: string;
  meterId: string;
  trigger: string;
  contractId: string;
  contractVersion: number;
  input: Record<string, number | boolean>;
  resultHash: string;
  delivered: DeliveredAction[];
}

function resultRow(
  contract: CompiledContract,
  meterId: string,
  trigger: string,
  key: string,
  input: Record<string, number | boolean>,
): ResultRow {
  const evaluation = contract.evaluate(meterId, input, trigger);
  return {
    key,
    meterId,
    trigger,
    contractId: contract.contract.id,
    contractVersion: contract.contract.version,
    input,
    resultHash: evaluation.resultHash,
    delivered: deliveredActions(evaluation),
  };
}

interface Notification {
  meterId: string;
  trigger: string;
  action: DeliveredAction;
}

/**
 * A notification as queued: the exact body to post, signed with the others of its block (one BLS
 * signature per batch: notification-signature.ts). Jobs queued before batches existed have neither,
 * and jobs queued before bodies had a signedAt have a body without one: both are signed again when
 * posted (freshlySigned).
 */
interface NotificationJob extends Notification {
  body?: string;
  signed?: NotificationSignature;
}

/** A block's notifications, posted by one job (its first attempt at each). */
interface NotificationBlockJob {
  notifications: NotificationJob[];
}

/** Posts in flight at once for one block's notifications. */
const BLOCK_NOTIFY_CONCURRENCY = 8;

/** How long an owner's endpoint has to answer a notification. */
const NOTIFY_TIMEOUT_MS = 10_000;

/** First delay before a notification is posted again (doubled at each further attempt). */
const NOTIFY_BACKOFF_MS = 1_000;

/**
 * A notification signed longer ago than this is signed again (with the others of its job, as one
 * batch) before it is posted, so that an owner, who refuses a signedAt older than a day by default
 * (NOTIFICATION_MAX_AGE_MS), takes it whatever the wait: NOTIFY_ATTEMPTS' back-off (1 s, doubled
 * at each attempt: 2^(n-2) s in all for n attempts, a minute for the default 8 but more than a day
 * from 19 on, and up to 50 are allowed) or an outage of Redis or of the receiver.
 */
const NOTIFY_RESIGN_AFTER_MS = 3_600_000;

/**
 * Completed jobs BullMQ keeps, so that the outbox relay adding the same job id again (after a crash
 * between adding and marking it sent) is ignored. That happens within seconds of a restart; past it,
 * a job that runs twice is harmless (ProcessedJobs, idempotent batches, action ids). Kept longer,
 * they filled Redis: a block's notification job carries every notification's signed body, 3-6 MB
 * under load, and 10,000 of every queue grew a soak's Redis to 500 MB in 15 minutes.
 */
const COMPLETED_JOBS_KEPT = { age: 3_600, count: 1_000 };
const NOTIFICATIONS_KEPT = { age: 600, count: 100 };

/**
 * The grid operator's feedback contract (paper Algorithm 1) run on every share the receiver opens:
 * the follower writes one evaluation job per block into the outbox, in the block's transaction; a
 * BullMQ worker evaluates its shares with the operator's account data (once per job: ProcessedJobs)
 * and writes the results, one publication job and one notification job for all of them; the
 * publication worker puts the results on the chain, batched with the others pending
 * (ContractResultPublisher); the notification worker posts each action, signed with its id and the
 * time it was signed (so that the owner takes each action once and refuses a replay), to the meter
 * owner's endpoint with the action id as its Idempotency-Key, and an action not taken goes on alone,
 * with retries and back-off. Jobs that run out of attempts stay in
 * BullMQ's failed set: the dead-letter queue.
 */
export class FeedbackContractRunner {
  private readonly logger = new Logger(FeedbackContractRunner.name);
  private readonly builtin: CompiledContract;
  private contract: CompiledContract;
  private deployedCheckedAt = 0;
  private ownerContractsByMeter = new Map<string, CompiledContract[]>();
  private ownerContractsCheckedAt = 0;
  private readonly processed: ProcessedJobs;
  private readonly evaluationFailures: Counter<'kind'>;
  private readonly queues = new Map<string, Queue>();
  private readonly workers: Worker[] = [];
  private relay: OutboxRelay | undefined;
  private readonly publisher: ContractResultPublisher;
  private connection: Redis | undefined;
  /** Sockets per owner endpoint: a block's posters, and the retries' worker beside them. */
  private readonly webhooks = new WebhookClient(2 * BLOCK_NOTIFY_CONCURRENCY, NOTIFY_TIMEOUT_MS);

  constructor(
    private readonly db: Pool,
    metrics: Registry,
    private readonly options: FeedbackContractOptions,
    sent: SentTransactions,
    private readonly meters: NodeMeters = new NodeMeters(options.nodeUrl, options.nodeAuthorization),
  ) {
    // Read from BullMQ when Prometheus scrapes: waiting, active, delayed, failed (dead-letter), completed.
    const gauge: Gauge<'queue' | 'state'> = new Gauge({
      name: 'cbsg_receiver_queue_jobs',
      help: 'Jobs of the contract, publication and notification queues, by state',
      labelNames: ['queue', 'state'],
      registers: [metrics],
      collect: async () => {
        if (!this.connection) {
          return;
        }
        const counts = await this.queueCounts().catch(() => undefined);
        for (const [queue, states] of Object.entries(counts ?? {})) {
          for (const [state, value] of Object.entries(states)) {
            gauge.set({ queue, state }, value);
          }
        }
      },
    });
    this.evaluationFailures = new Counter({
      name: 'cbsg_receiver_contract_evaluation_failures_total',
      help: 'Contract evaluations that gave no result (a CONTRACT.* error on their input), by kind',
      labelNames: ['kind'],
      registers: [metrics],
    });
    this.builtin = compileContract(
      instantiateContract(GRID_OPERATOR_FEEDBACK_CONTRACT, { owner: options.organisationId }),
    );
    this.contract = this.builtin;
    this.processed = new ProcessedJobs(db);
    this.publisher = new ContractResultPublisher(db, options, sent);
  }

  /** In the follower's block transaction: one job that answers every share of the block, opened or tampered. */
  async enqueue(client: PoolClient, height: bigint, readings: BlockReadings): Promise<void> {
    const evaluations: Evaluation[] = [
      ...readings.opened.map((o) => ({
        meterId: o.report.meterId,
        reportId: o.report.idHex,
        consumption: typeof o.values.consumption_kwh === 'number' ? o.values.consumption_kwh : null,
        tampered: false,
      })),
      ...readings.tampered.map((t) => ({
        meterId: t.report.meterId,
        reportId: t.report.idHex,
        consumption: null,
        tampered: true,
      })),
    ].filter((j) => j.tampered || j.consumption !== null);
    if (evaluations.length === 0) {
      return;
    }
    await client.query(
      `INSERT INTO outbox (queue, job_name, job_id, payload) VALUES ($1, 'evaluate-block', $2, $3)
       ON CONFLICT (job_id) DO NOTHING`,
      [
        QUEUES.evaluations,
        jobId('evaluate-block', this.options.receiverId, height.toString()),
        JSON.stringify({ height: height.toString(), evaluations } satisfies BlockEvaluationJob),
      ],
    );
  }

  start(): void {
    const connection = new Redis(this.options.redisUrl, { maxRetriesPerRequest: null });
    connection.on('error', () => undefined); // BullMQ reconnects; the relay keeps jobs meanwhile
    this.connection = connection;
    const worker = (queue: string, handler: (job: Job) => Promise<void>, concurrency: number) => {
      const w = new Worker(queue, handler, {
        connection,
        prefix: this.options.queuePrefix,
        concurrency,
        // A job of a killed process runs again within seconds, not BullMQ's default half-minute;
        // running one twice is harmless (ProcessedJobs, idempotent batches and action ids).
        lockDuration: 10_000,
        stalledInterval: 5_000,
      });
      w.on('failed', (job, error) =>
        this.logger.warn(`${queue} job ${job?.id} failed (attempt ${job?.attemptsMade}): ${error.message}`),
      );
      this.workers.push(w);
    };
    worker(QUEUES.evaluations, (job) => this.evaluate(job as Job<BlockEvaluationJob>), 4);
    worker(QUEUES.publications, (job) => this.publish(job as Job<PublicationJob>), 4);
    worker(
      QUEUES.notifications,
      (job) =>
        job.name === 'notify-block'
          ? this.notifyBlock(job as Job<NotificationBlockJob>)
          : this.notify(job as Job<NotificationJob>),
      8,
    );
    this.relay = new OutboxRelay(this.db, { get: (name) => this.queue(name) }, { pollMs: 200 });
    this.relay.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
    await this.relay?.stop();
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    await this.connection?.quit().catch(() => undefined);
    this.webhooks.close();
  }

  /** Waiting, active, failed (dead-letter) and completed jobs per queue. */
  async queueCounts(): Promise<Record<string, Record<string, number>>> {
    const out: Record<string, Record<string, number>> = {};
    for (const name of Object.values(QUEUES)) {
      out[name] = await this.queue(name).getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed');
    }
    return out;
  }

  private queue(name: string): Queue {
    let queue = this.queues.get(name);
    if (!queue) {
      const defaults =
        name === QUEUES.notifications
          ? {
              attempts: this.options.notifyAttempts,
              backoff: { type: 'exponential', delay: NOTIFY_BACKOFF_MS },
            }
          : { attempts: 20, backoff: { type: 'exponential', delay: 500 } };
      queue = new Queue(name, {
        connection: this.connection!,
        prefix: this.options.queuePrefix,
        defaultJobOptions: {
          ...defaults,
          removeOnComplete: name === QUEUES.notifications ? NOTIFICATIONS_KEPT : COMPLETED_JOBS_KEPT,
          removeOnFail: false,
        },
      });
      this.queues.set(name, queue);
    }
    return queue;
  }

  /**
   * The contract in force: the latest version this organisation deployed on the chain
   * (contract.deploy), else the built-in Algorithm 1. Looked up at most every 2 s. A deployed document
   * is put in force whenever its hash differs from the one in force, whatever its version: results
   * must come from the very document the chain holds under their (id, version).
   */
  private async currentContract(): Promise<CompiledContract> {
    if (Date.now() - this.deployedCheckedAt < 2_000) {
      return this.contract;
    }
    const id = this.builtin.contract.id;
    // Newest first: the first of this organisation's versions is the one in force.
    const query = new URLSearchParams({ id, owner: this.options.organisationId, limit: '1' });
    const response = await fetch(`${this.options.nodeUrl}/contracts?${query.toString()}`, {
      headers: { authorization: this.options.nodeAuthorization() },
      signal: AbortSignal.timeout(10_000),
    }).catch(() => undefined);
    if (response?.ok) {
      const [deployed] = (
        (await response.json()) as { contracts: Array<{ version: number; hash?: string; document: unknown }> }
      ).contracts;
      // Compiled only when the node's hash of it says it is another document than the one in force.
      const compiled =
        deployed && deployed.hash !== this.contract.hash ? compileContract(deployed.document) : undefined;
      if (compiled && compiled.hash !== this.contract.hash) {
        this.contract = compiled;
        this.logger.log(
          `contract ${id} version ${compiled.version} (${compiled.hash}) in force (deployed on the chain)`,
        );
        if (compiled.contract.appliesTo.scope === 'tariffs') {
          // A receiver does not know meters' tariffs: no meter is known to be in the contract's scope.
          this.logger.warn(
            `contract ${id} version ${compiled.version} applies to tariff classes, which this receiver ` +
              'cannot tell: it answers no meter until a version for all meters or a list of meters is deployed',
          );
        }
      }
      this.deployedCheckedAt = Date.now();
    }
    return this.contract;
  }

  /**
   * The device contracts meters' owners deployed for this receiver (paper III.F; the registry lets an
   * owner deploy only for its own meter, to a receiver that gets its data), by meter. Looked up at
   * most every 2 s.
   */
  private async ownerContracts(): Promise<Map<string, CompiledContract[]>> {
    if (Date.now() - this.ownerContractsCheckedAt < 2_000) {
      return this.ownerContractsByMeter;
    }
    const byMeter = new Map<string, CompiledContract[]>();
    let cursor: string | null = null;
    do {
      const query = new URLSearchParams({ receiverId: this.options.receiverId, limit: '500' });
      if (cursor) {
        query.set('cursor', cursor);
      }
      const response = await fetch(`${this.options.nodeUrl}/contracts?${query.toString()}`, {
        headers: { authorization: this.options.nodeAuthorization() },
        signal: AbortSignal.timeout(10_000),
      }).catch(() => undefined);
      if (!response?.ok) {
        return this.ownerContractsByMeter; // keep the last known set; looked up again next time
      }
      const page = (await response.json()) as {
        contracts: Array<{ owner: string; document: unknown }>;
        next: string | null;
      };
      for (const deployed of page.contracts) {
        if (!deployed.owner.startsWith(OWNER_SENDER_PREFIX)) {
          continue;
        }
        const meterId = deployed.owner.slice(OWNER_SENDER_PREFIX.length);
        byMeter.set(meterId, [...(byMeter.get(meterId) ?? []), compileContract(deployed.document)]);
      }
      cursor = page.next;
    } while (cursor);
    this.ownerContractsByMeter = byMeter;
    this.ownerContractsCheckedAt = Date.now();
    return byMeter;
  }

  /**
   * A block's shares: each one's result under Algorithm 1 (or the version deployed) and the owner's
   * device contracts, with the operator's account data, all in one transaction recorded once
   * (ProcessedJobs), then one publication job for all of them.
   */
  private async evaluate(job: Job<BlockEvaluationJob>): Promise<void> {
    const { evaluations } = job.data;
    const contract = await this.currentContract();
    const ownerContracts = await this.ownerContracts();
    const ran = await this.processed.once(QUEUES.evaluations, job.id!, async (tx) => {
      const meterIds = [...new Set(evaluations.map((e) => e.meterId))];
      const { rows } = await tx.query<OperatorAccount & { meter_id: string }>(
        `SELECT meter_id, prepaid, prepaid_balance, prepaid_low_level, arrears, arrears_level, serious_arrears_level,
                threshold_value, latest_price FROM operator_accounts WHERE meter_id = ANY($1::text[])`,
        [meterIds],
      );
      const accounts = new Map(rows.map(({ meter_id, ...account }) => [meter_id, account]));
      const keys: string[] = [];
      const outbox: OutboxRow[] = [];
      const results: ResultRow[] = [];
      for (const { meterId, reportId, consumption, tampered } of evaluations) {
        const trigger = `report:${reportId}`;
        const input = {
          ...(accounts.get(meterId) ?? DEFAULT_ACCOUNT),
          tampered,
          meter_value: consumption ?? 0,
        };
        // The operator's contract answers the meters in its scope only (a tariff scope: none).
        if (contract.appliesTo({ meterId })) {
          const row = this.evaluateOne(contract, 'feedback', meterId, trigger, trigger, input);
          if (row) {
            results.push(row);
            keys.push(trigger);
          }
        }
        // The owner's device contracts see the same input (undeclared fields do not enter their hash).
        for (const own of ownerContracts.get(meterId) ?? []) {
          if (tampered || !own.appliesTo({ meterId })) {
            continue; // a tampered reading drives no appliance
          }
          const key = `${trigger}${OWNER_RESULT_SEPARATOR}${own.id}`;
          const row = this.evaluateOne(own, 'device', meterId, trigger, key, input);
          if (row) {
            results.push(row);
            keys.push(key);
          }
        }
      }
      await this.record(tx, results);
      const notifications = results.flatMap((r) =>
        r.delivered.map((action): Notification => ({ meterId: r.meterId, trigger: r.trigger, action })),
      );
      if (notifications.length > 0) {
        outbox.push([
          QUEUES.notifications,
          'notify-block',
          jobId('notify-block', this.options.receiverId, job.id!),
          { notifications: this.signBatch(notifications) } satisfies NotificationBlockJob,
        ]);
      }
      outbox.push([
        QUEUES.publications,
        'publish',
        jobId('publish', this.options.receiverId, job.id!),
        { keys } satisfies PublicationJob,
      ]);
      await tx.query(
        `INSERT INTO outbox (queue, job_name, job_id, payload)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[]) ON CONFLICT (job_id) DO NOTHING`,
        [
          outbox.map((o) => o[0]),
          outbox.map((o) => o[1]),
          outbox.map((o) => o[2]),
          outbox.map((o) => JSON.stringify(o[3])),
        ],
      );
    });
    if (ran) {
      this.relay?.wake();
    }
  }

  /**
   * One contract's result for one share, or undefined when the contract fails on this input (a
   * CONTRACT.* error: a division by zero, an input the receiver does not have). The evaluation is
   * deterministic, so retrying the block's job would fail again and lose every other share's result:
   * the failure is logged and counted, gives no result, and the rest of the block goes on.
   */
  private evaluateOne(
    contract: CompiledContract,
    kind: 'feedback' | 'device',
    meterId: string,
    trigger: string,
    key: string,
    input: Record<string, number | boolean>,
  ): ResultRow | undefined {
    try {
      return resultRow(contract, meterId, trigger, key, input);
    } catch (error) {
      if (!(error instanceof ContractError)) {
        throw error;
      }
      this.evaluationFailures.inc({ kind });
      this.logger.warn(
        `${kind === 'feedback' ? 'contract' : 'owner contract'} ${contract.id} v${contract.version} ` +
          `gave no result for ${meterId} (${trigger}): ${error.code}: ${error.message}`,
      );
      return undefined;
    }
  }

  /**
   * A block's results (each under its `key`, unique per receiver) and the commands for the meters, in
   * the caller's transaction: two statements for the whole block.
   */
  private async record(tx: PoolClient, results: readonly ResultRow[]): Promise<void> {
    await tx.query(
      `INSERT INTO contract_results (receiver_id, trigger, meter_id, contract_id, contract_version, input, result_hash, actions, created_at)
       SELECT $1, r.key, r.meter_id, r.contract_id, r.contract_version, r.input, r.result_hash, r.actions, now()
       FROM unnest($2::text[], $3::text[], $4::text[], $5::int[], $6::jsonb[], $7::text[], $8::jsonb[])
         AS r(key, meter_id, contract_id, contract_version, input, result_hash, actions)
       ON CONFLICT DO NOTHING`,
      [
        this.options.receiverId,
        results.map((r) => r.key),
        results.map((r) => r.meterId),
        results.map((r) => r.contractId),
        results.map((r) => r.contractVersion),
        results.map((r) => JSON.stringify(r.input)),
        results.map((r) => r.resultHash),
        results.map((r) => JSON.stringify(r.delivered.map(chainAction))),
      ],
    );
    // What the meter itself must do waits for it in its command queue (it fetches and acknowledges).
    const commands = results.flatMap((r) =>
      r.delivered
        .filter((a) => METER_COMMAND_TYPES.has(a.type))
        .map((a) => ({ ...chainAction(a), meterId: r.meterId, trigger: r.trigger })),
    );
    if (commands.length > 0) {
      await tx.query(
        `INSERT INTO meter_commands (receiver_id, command_id, meter_id, type, message, trigger, created_at)
         SELECT $1, c.id, c.meter_id, c.type, c.message, c.trigger, now()
         FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS c(id, meter_id, type, message, trigger)
         ON CONFLICT DO NOTHING`,
        [
          this.options.receiverId,
          commands.map((c) => c.id),
          commands.map((c) => c.meterId),
          commands.map((c) => c.type),
          commands.map((c) => c.message),
          commands.map((c) => c.trigger),
        ],
      );
    }
  }

  private async publish(job: Job<PublicationJob>): Promise<void> {
    await this.publisher.publish(job.data.keys);
  }

  /**
   * A block's notifications, each posted once (a few at a time); each one that is not taken becomes a
   * job of its own, with the queue's back-off and the rest of its attempts, and ends in the failed
   * (dead-letter) set if it runs out of them. One job per block, not per action: at 400 shares a second
   * the jobs themselves (outbox rows, Redis scripts) cost more than the posts.
   */
  private async notifyBlock(job: Job<NotificationBlockJob>): Promise<void> {
    const notifications = this.freshlySigned(job.data.notifications);
    const refused: NotificationJob[] = [];
    let next = 0;
    const poster = async () => {
      while (next < notifications.length) {
        const notification = notifications[next++]!;
        try {
          await this.post(notification);
        } catch (error) {
          this.logger.warn(
            `notification ${notification.action.id}: ${(error as Error).message}; retried alone`,
          );
          refused.push(notification);
        }
      }
    };
    await Promise.all(Array.from({ length: BLOCK_NOTIFY_CONCURRENCY }, poster));
    if (refused.length > 0) {
      await this.queue(QUEUES.notifications).addBulk(
        refused.map((notification) => ({
          name: 'notify',
          data: notification,
          opts: {
            jobId: jobId('notify', notification.action.id),
            attempts: this.options.notifyAttempts - 1,
            delay: NOTIFY_BACKOFF_MS,
          },
        })),
      );
    }
  }

  private async notify(job: Job<NotificationJob>): Promise<void> {
    await this.post(this.freshlySigned([job.data])[0]!);
  }

  /**
   * The notifications as one batch (a hash to G2 for all of them, not one per action), their bodies
   * signed now: `signedAt` is in each body, so that an owner refuses a notification replayed later.
   */
  private signBatch(notifications: readonly Notification[]): Array<Required<NotificationJob>> {
    const signedAt = Date.now();
    const bodies = notifications.map((n) => this.notificationBody(n, signedAt));
    const signatures = signNotifications(bodies, this.options.organisationKey, this.options.chainId);
    return notifications.map(({ meterId, trigger, action }, i) => ({
      meterId,
      trigger,
      action,
      body: bodies[i]!,
      signed: signatures[i]!,
    }));
  }

  /**
   * A job's notifications as they are posted: as queued, unless one was signed more than
   * NOTIFY_RESIGN_AFTER_MS ago, or before bodies had a signedAt, or not at all (a job queued before
   * this receiver's version): then all of them are signed again, as one batch.
   */
  private freshlySigned(notifications: readonly NotificationJob[]): ReadonlyArray<Required<NotificationJob>> {
    const oldest = Date.now() - NOTIFY_RESIGN_AFTER_MS;
    const fresh = (n: NotificationJob): n is Required<NotificationJob> => {
      const signedAt = n.body === undefined ? undefined : parseNotificationBody(n.body)?.signedAt;
      return n.signed !== undefined && signedAt !== undefined && signedAt >= oldest;
    };
    return notifications.every(fresh) ? notifications : this.signBatch(notifications);
  }

  /** Posts one notification, signed, to its meter owner's endpoint; throws unless it is taken. */
  private async post({ meterId, action, body, signed }: Required<NotificationJob>): Promise<void> {
    const url = await this.notifyUrl(meterId);
    await this.webhooks.post(
      url,
      {
        'content-type': 'application/json',
        'idempotency-key': action.id,
        'x-cbsg-signer': this.options.organisationId,
        [NOTIFICATION_HEADERS.signature]: signed.signature,
        [NOTIFICATION_HEADERS.root]: signed.root,
        [NOTIFICATION_HEADERS.proof]: signed.proof,
      },
      body,
    );
  }

  /**
   * What the owner receives: the action with its parameters and its id, which meter, which trigger,
   * from whom, and when it was signed.
   */
  private notificationBody({ meterId, trigger, action }: Notification, signedAt: number): string {
    return JSON.stringify({
      meterId,
      trigger,
      action,
      from: this.options.organisationId,
      signedAt,
    } satisfies NotificationBody);
  }

  private async notifyUrl(meterId: string): Promise<string> {
    const meter = await this.meters.get(meterId);
    if (!meter) {
      throw new Error(`the node has no meter ${meterId}`);
    }
    return meter.owner.notifyUrl;
  }
}
