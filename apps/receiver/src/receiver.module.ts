import {
  type DynamicModule,
  Module,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import { Pool } from 'pg';
import { Registry } from 'prom-client';

import { AccessModule, PrincipalResolver } from '@app/auth';
import type { ReceiverConfig } from '@app/config';
import { MetricsModule } from '@app/metrics';

import { ReceiverAnalyses } from './analyses';
import { ChainFollower } from './chain-follower';
import { HeadWitness } from './head-witness';
import { NodeMeters } from './node-meters';
import { FeedbackContractRunner } from './feedback-contract';
import { OperatorController } from './operator.controller';
import { ReceiverController } from './receiver.controller';
import { RECEIVER_CONFIG, RECEIVER_DB, RECEIVER_RUNTIME, type ReceiverRuntime } from './receiver.tokens';
import { ScheduledPublications } from './scheduled-publications';
import { SentTransactions } from './sent-transactions';

/** Starts following when the app is up, and stops (then frees the pool and the database) on shutdown. */
class FollowerLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(
    private readonly follower: ChainFollower,
    private readonly db: Pool,
    private readonly runtime: ReceiverRuntime,
    private readonly contract: FeedbackContractRunner | null,
    private readonly publications: ScheduledPublications | null,
    private readonly witness: HeadWitness,
    private readonly sent: SentTransactions,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.contract?.start();
    this.witness.start();
    this.follower.start();
    this.sent.start();
    await this.publications?.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.publications?.stop();
    await this.sent.stop();
    await this.witness.stop();
    await this.follower.stop();
    await this.contract?.stop();
    await this.runtime.crypto.close();
    await this.db.end();
  }
}

/** A receiver's process (DESIGN.md section 5): follows one node's final chain and opens its own shares. */
@Module({})
export class ReceiverModule {
  static forRoot(config: ReceiverConfig, runtime: ReceiverRuntime): DynamicModule {
    return {
      module: ReceiverModule,
      imports: [
        LoggerModule.forRoot({
          pinoHttp: {
            level: config.logLevel,
            redact: ['req.headers.authorization', 'req.headers.cookie'],
            autoLogging: { ignore: (req) => req.url?.startsWith('/health') ?? false },
          },
        }),
        MetricsModule,
        AccessModule.forRoot({
          useFactory: () => ({
            resolver: new PrincipalResolver(() => runtime.members),
            owner: config.organisation.id,
            requestsPerSecond: config.http.rateLimitPerSecond,
          }),
        }),
      ],
      controllers: config.contract ? [ReceiverController, OperatorController] : [ReceiverController],
      providers: [
        { provide: RECEIVER_CONFIG, useValue: config },
        { provide: RECEIVER_RUNTIME, useValue: runtime },
        {
          provide: RECEIVER_DB,
          useFactory: () => {
            const pool = new Pool({ connectionString: config.databaseUrl, max: 5 });
            pool.on('error', () => undefined); // a dropped idle client; the next query reconnects
            // A client lost while checked out fails its next query instead of killing the process.
            pool.on('connect', (client) => client.on('error', () => undefined));
            return pool;
          },
        },
        { provide: NodeMeters, useFactory: () => new NodeMeters(config.nodeUrl, runtime.nodeAuthorization) },
        {
          provide: SentTransactions,
          inject: [RECEIVER_DB, Registry],
          useFactory: (db: Pool, metrics: Registry) =>
            new SentTransactions(
              db,
              {
                receiverId: config.receiverId,
                nodeUrl: config.nodeUrl,
                nodeAuthorization: runtime.nodeAuthorization,
                entryWindowMs: runtime.entryWindowMs,
                resendAfterMs: config.sent.resendAfterMs,
                retentionMs: config.sent.retentionMs,
              },
              metrics,
            ),
        },
        ReceiverAnalyses,
        {
          provide: ScheduledPublications,
          inject: [ReceiverAnalyses, ChainFollower],
          useFactory: (analyses: ReceiverAnalyses, follower: ChainFollower) =>
            config.publications
              ? new ScheduledPublications(analyses, follower, config.publications, config.receiverId)
              : null,
        },
        {
          provide: FeedbackContractRunner,
          inject: [RECEIVER_DB, Registry, NodeMeters, SentTransactions],
          useFactory: (db: Pool, metrics: Registry, meters: NodeMeters, sent: SentTransactions) =>
            config.contract
              ? new FeedbackContractRunner(
                  db,
                  metrics,
                  {
                    receiverId: config.receiverId,
                    organisationId: config.contract.organisationId,
                    organisationKey: runtime.organisationKey,
                    chainId: runtime.chainId,
                    nodeUrl: config.nodeUrl,
                    nodeAuthorization: runtime.nodeAuthorization,
                    redisUrl: config.contract.redisUrl,
                    queuePrefix: config.contract.queuePrefix,
                    notifyAttempts: config.contract.notifyAttempts,
                  },
                  sent,
                  meters,
                )
              : null,
        },
        {
          provide: HeadWitness,
          inject: [RECEIVER_DB, Registry],
          useFactory: (db: Pool, metrics: Registry) =>
            new HeadWitness(
              db,
              {
                receiverId: config.receiverId,
                chainId: runtime.chainId,
                nodeUrls: config.witness.nodeUrls,
                nodeAuthorization: runtime.nodeAuthorization,
                nodeKeys: runtime.nodeKeys,
                intervalMs: config.witness.intervalMs,
              },
              metrics,
            ),
        },
        {
          provide: ChainFollower,
          inject: [RECEIVER_DB, Registry, FeedbackContractRunner, NodeMeters, HeadWitness],
          useFactory: (
            db: Pool,
            metrics: Registry,
            contract: FeedbackContractRunner | null,
            meters: NodeMeters,
            witness: HeadWitness,
          ) =>
            new ChainFollower(
              db,
              runtime.crypto,
              runtime.receiver,
              {
                receiverId: config.receiverId,
                nodeUrl: config.nodeUrl,
                nodeAuthorization: runtime.nodeAuthorization,
                fromHeight: config.fromHeight,
                genesisHash: runtime.genesisHash,
                batchBlocks: config.batchBlocks,
                pollMs: config.pollMs,
                witness,
                ...(contract ? { afterBlock: contract.enqueue.bind(contract) } : {}),
              },
              metrics,
              meters,
            ),
        },
        {
          provide: FollowerLifecycle,
          inject: [
            ChainFollower,
            RECEIVER_DB,
            FeedbackContractRunner,
            ScheduledPublications,
            HeadWitness,
            SentTransactions,
          ],
          useFactory: (
            follower: ChainFollower,
            db: Pool,
            contract: FeedbackContractRunner | null,
            publications: ScheduledPublications | null,
            witness: HeadWitness,
            sent: SentTransactions,
          ) => new FollowerLifecycle(follower, db, runtime, contract, publications, witness, sent),
        },
      ],
    };
  }
}
