import {
  type CanActivate,
  type ExecutionContext,
  HttpException,
  Inject,
  Injectable,
  Logger,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';

import { ACCESS_KEY } from './access.decorator';
import { type Audience, checkAudience, type Principal, principalLabel } from './domain/access';
import { AuthError } from './domain/auth-error';
import { RefusalCounter } from './domain/refusal-counter';
import { PrincipalResolver } from './principal-resolver';

export const PRINCIPAL_RESOLVER = Symbol('PrincipalResolver');
/** The organisation that runs this service (audience 'self'), if any. */
export const SERVICE_OWNER = Symbol('ServiceOwner');
/** Refused credentials per client address (a RefusalCounter). */
export const CREDENTIAL_REFUSALS = Symbol('CredentialRefusals');
/**
 * Where `@SkipThrottle()` marks the default throttler skipped: @nestjs/throttler's THROTTLER_SKIP
 * plus the throttler's name, which its index does not export.
 */
const SKIP_DEFAULT_THROTTLER = 'THROTTLER:SKIPdefault';

/** What the guard needs of a request, for HTTP and GraphQL alike. */
export interface AuthenticatedRequest {
  method?: string;
  path?: string;
  route?: { path?: string };
  ip?: string;
  headers: Record<string, string | string[] | undefined>;
  principal?: Principal;
}

/** Pulls the underlying request out of a context (GraphQL keeps it in its context object). */
export function requestOf(context: ExecutionContext): AuthenticatedRequest {
  if (context.getType<string>() === 'graphql') {
    const gqlContext = context.getArgByIndex<{ req?: AuthenticatedRequest } | undefined>(2);
    return gqlContext?.req ?? { headers: {} };
  }
  return context.switchToHttp().getRequest<AuthenticatedRequest>();
}

/**
 * Every call passes here (a global guard): it proves who is calling and checks the endpoint's
 * @Access audiences (admins only where none is declared: a forgotten declaration fails closed).
 * Refusals are 401 (no or bad credentials) or 403 (wrong role), with a reason, logged without the
 * credential itself.
 */
@Injectable()
export class AccessGuard implements CanActivate {
  private readonly logger = new Logger('Access');

  constructor(
    private readonly reflector: Reflector,
    @Inject(PRINCIPAL_RESOLVER) private readonly resolver: PrincipalResolver,
    @Inject(SERVICE_OWNER) private readonly owner: string | null,
    @Inject(CREDENTIAL_REFUSALS) private readonly refusals: RefusalCounter,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const audiences = this.reflector.getAllAndOverride<Audience[] | undefined>(ACCESS_KEY, [
      context.getHandler(),
      context.getClass(),
    ]) ?? ['admin'];
    const request = requestOf(context);
    const open = audiences.includes('public');
    if (open && !request.headers.authorization) {
      return true;
    }
    const what =
      context.getType<string>() === 'graphql'
        ? `the GraphQL field ${context.getClass().name}.${context.getHandler().name}`
        : `${request.method ?? ''} ${request.route?.path ?? request.path ?? ''}`;
    // Refused credentials are counted by address, where the rate limit applies: the throttler runs
    // after this guard and never sees a refusal, and each forged token costs a signature check.
    const counted =
      !request.principal && Boolean(request.headers.authorization) && !this.exemptFromRateLimit(context);
    const client = `address ${request.ip ?? 'unknown'}`;
    try {
      let principal = request.principal;
      if (!principal) {
        const header = request.headers.authorization;
        if (typeof header !== 'string' || header.length === 0) {
          throw new AuthError(
            'AUTH.MISSING',
            `${what} needs credentials: "Authorization: Bearer <organisation token or admin key>"`,
          );
        }
        // Checked on open endpoints too: a caller that sends credentials wants them to count
        // (an organisation sees more of a meter than the meter itself does). A client refused too
        // often is turned away before its credential costs anything; a token verified before is not.
        const turnAwayIfRefusedTooOften = () => {
          const retryAfter = counted ? this.refusals.retryAfterSeconds(client) : 0;
          if (retryAfter > 0) {
            this.logger.warn(`refused ${what} for ${client}: too many refused credentials`);
            responseOf(context)?.header?.('Retry-After', String(retryAfter));
            throw new HttpException(
              {
                statusCode: 429,
                code: 'HTTP.TOO_MANY_REQUESTS',
                message: `too many refused credentials from this address; retry in ${retryAfter} s`,
              },
              429,
            );
          }
        };
        principal = await this.resolver.resolve(header, Date.now(), {
          beforeCheck: turnAwayIfRefusedTooOften,
        });
        request.principal = principal;
      }
      if (!open) {
        checkAudience(principal, audiences, what, this.owner ?? undefined);
      }
      return true;
    } catch (error) {
      if (!(error instanceof AuthError)) {
        throw error;
      }
      if (counted && !request.principal) {
        // Its credentials were refused (not its role: that comes with a principal).
        this.refusals.record(client);
      }
      const who = request.principal
        ? principalLabel(request.principal)
        : `a client at ${request.ip ?? 'unknown'}`;
      this.logger.warn(`refused ${what} for ${who}: ${error.code}: ${error.message}`);
      throw new HttpException(
        { statusCode: error.status, code: error.code, message: error.message },
        error.status,
      );
    }
  }

  /** Intake, peer traffic, health and metrics are not rate-limited (`@SkipThrottle()`). */
  private exemptFromRateLimit(context: ExecutionContext): boolean {
    return (
      this.reflector.getAllAndOverride<boolean | undefined>(SKIP_DEFAULT_THROTTLER, [
        context.getHandler(),
        context.getClass(),
      ]) === true
    );
  }
}

function responseOf(
  context: ExecutionContext,
): { header?: (name: string, value: string) => unknown } | undefined {
  if (context.getType<string>() === 'graphql') {
    return context.getArgByIndex<{ res?: { header?: (name: string, value: string) => unknown } } | undefined>(
      2,
    )?.res;
  }
  return context.switchToHttp().getResponse();
}
