import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { Module } from '@nestjs/common';
import { GraphQLModule } from '@nestjs/graphql';
import type { Pool } from 'pg';

import {
  type AuthenticatedRequest,
  type Principal,
  PRINCIPAL_RESOLVER,
  type PrincipalResolver,
} from '@app/auth';
import { ChainModule } from '@app/chain';
import { PG_POOL } from '@app/persistence';

import { ChainLoaders } from './chain.loaders';
import { BlockResolver, ChainResolver, TransactionResolver } from './chain.resolvers';
import { BlockAddedPublisher, BlockFinalizedPublisher, graphqlEventsProvider } from './graphql-events';
import { complexityLimit, depthLimit } from './query-limits';

/** Deepest operation and highest estimated cost a client may ask for. */
export const GRAPHQL_MAX_DEPTH = 6;
export const GRAPHQL_MAX_COMPLEXITY = 25_000;

/**
 * GraphQL for member organisations and admins (code first), at /graphql: the same data and the same
 * authorisation as the REST API (the global AccessGuard), batched reads per request, depth and cost
 * limits, and subscriptions over graphql-ws (credentials in the connection's `authorization` param).
 */
@Module({
  imports: [
    ChainModule,
    GraphQLModule.forRootAsync<ApolloDriverConfig>({
      driver: ApolloDriver,
      inject: [PG_POOL, PRINCIPAL_RESOLVER],
      useFactory: (pool: Pool, principals: PrincipalResolver): ApolloDriverConfig => ({
        path: '/graphql',
        autoSchemaFile: true,
        sortSchema: true,
        introspection: true,
        validationRules: [depthLimit(GRAPHQL_MAX_DEPTH)],
        plugins: [complexityLimit(GRAPHQL_MAX_COMPLEXITY)],
        subscriptions: {
          'graphql-ws': {
            path: '/graphql',
            // A socket is opened once: who holds it is proven here, then checked field by field.
            onConnect: async (context) => {
              const extra = context.extra as { principal?: Principal };
              const authorization = (context.connectionParams ?? {}).authorization;
              if (typeof authorization !== 'string') {
                return false;
              }
              extra.principal = await principals.resolve(authorization).catch(() => undefined);
              return extra.principal !== undefined;
            },
          },
        },
        context: ({
          req,
          res,
          extra,
        }: {
          req?: AuthenticatedRequest;
          res?: unknown;
          extra?: { principal?: Principal };
        }) => ({
          req: req ?? { headers: {}, principal: extra?.principal },
          res,
          loaders: new ChainLoaders(pool),
        }),
      }),
    }),
  ],
  providers: [
    graphqlEventsProvider,
    BlockResolver,
    TransactionResolver,
    ChainResolver,
    BlockAddedPublisher,
    BlockFinalizedPublisher,
  ],
})
export class NodeGraphqlModule {}
