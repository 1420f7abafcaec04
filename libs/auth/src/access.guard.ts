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
import { PrincipalResolver } from './principal-resolver';

export const PRINCIPAL_RESOLVER = Symbol('PrincipalResolver');
/** The organisation that runs this service (audience 'self'), if any. */
export const SERVICE_OWNER = Symbol('ServiceOwner');

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
        // (an organisation sees more of a meter than the meter itself does).
        principal = await this.resolver.resolve(header);
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
}
