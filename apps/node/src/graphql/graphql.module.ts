import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { Logger, Module } from '@nestjs/common';
import { GraphQLModule } from '@nestjs/graphql';
import { CloseCode } from 'graphql-ws';
import type { Pool } from 'pg';
import type { WebSocket } from 'ws';

import {
  ADMIN_KEY_CACHE_MS,
  AuthError,
  type AuthenticatedRequest,
  type Principal,
  PRINCIPAL_RESOLVER,
  type PrincipalResolver,
  type ResolvedCredential,
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

/** What a subscription socket holds (graphql-ws's `extra` with the ws transport, and ours). */
interface SocketExtra {
  readonly socket: WebSocket;
  principal?: Principal;
  expiry?: NodeJS.Timeout;
  recheck?: NodeJS.Timeout;
}

const logger = new Logger('GraphqlSubscriptions');

function stopWatching(extra: SocketExtra): void {
  clearTimeout(extra.expiry);
  clearInterval(extra.recheck);
  extra.expiry = undefined;
  extra.recheck = undefined;
}

/**
 * A socket lives longer than the credential that opened it: it is closed (4403 Forbidden) when its
 * token expires, and when its admin key no longer holds (read again as often as REST reads it).
 */
function watchCredential(
  extra: SocketExtra,
  authorization: string,
  resolved: ResolvedCredential,
  principals: PrincipalResolver,
): void {
  const forbid = (reason: string) => {
    stopWatching(extra);
    extra.principal = undefined;
    logger.log(`closing a subscription socket: ${reason}`);
    extra.socket.close(CloseCode.Forbidden, 'Forbidden');
  };
  if (resolved.acceptedUntil !== undefined) {
    extra.expiry = setTimeout(
      () => forbid('its token expired'),
      Math.max(0, resolved.acceptedUntil - Date.now()),
    );
    extra.expiry.unref();
  }
  if (resolved.principal.kind === 'admin') {
    extra.recheck = setInterval(() => {
      principals.resolveCredential(authorization, Date.now(), { fresh: true }).then(
        () => undefined,
        (error: unknown) => {
          if (error instanceof AuthError) {
            forbid(`${error.code}: ${error.message}`);
          } else {
            // Not a verdict on the key (the database failed): asked again at the next interval.
            logger.warn(`could not check a subscription's admin key: ${(error as Error).message}`);
          }
        },
      );
    }, ADMIN_KEY_CACHE_MS);
    extra.recheck.unref();
  }
}

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
            // A socket is opened once: who holds it is proven here, then checked field by field,
            // and the socket is closed when that credential no longer holds.
            onConnect: async (context) => {
              const extra = context.extra as SocketExtra;
              const authorization = (context.connectionParams ?? {}).authorization;
              if (typeof authorization !== 'string') {
                return false;
              }
              const resolved = await principals.resolveCredential(authorization).catch(() => undefined);
              if (!resolved) {
                return false;
              }
              extra.principal = resolved.principal;
              // Closed while its credential was being checked: onClose has run already.
              if (extra.socket.readyState === extra.socket.OPEN) {
                watchCredential(extra, authorization, resolved, principals);
              }
              return true;
            },
            onClose: (context) => stopWatching(context.extra as SocketExtra),
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
