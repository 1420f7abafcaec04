import { type ExecutionContext, Injectable } from '@nestjs/common';
import { ThrottlerGuard } from '@nestjs/throttler';

import { type AuthenticatedRequest, requestOf } from './access.guard';
import { principalLabel } from './domain/access';

/**
 * Rate limits per client: an authenticated caller is counted by who it is (one organisation behind
 * many addresses is one client), anyone else by address. Runs after the AccessGuard.
 */
@Injectable()
export class ClientThrottlerGuard extends ThrottlerGuard {
  protected override getTracker(request: Record<string, unknown>): Promise<string> {
    const req = request as unknown as AuthenticatedRequest;
    return Promise.resolve(req.principal ? principalLabel(req.principal) : `address ${req.ip ?? 'unknown'}`);
  }

  protected override getRequestResponse(context: ExecutionContext): {
    req: Record<string, unknown>;
    res: Record<string, unknown>;
  } {
    if (context.getType<string>() === 'graphql') {
      const gqlContext = context.getArgByIndex<{
        req?: Record<string, unknown>;
        res?: Record<string, unknown>;
      }>(2);
      return { req: gqlContext.req ?? {}, res: gqlContext.res ?? { header: () => undefined } };
    }
    return super.getRequestResponse(context);
  }
}

export type { AuthenticatedRequest };
export { requestOf };
