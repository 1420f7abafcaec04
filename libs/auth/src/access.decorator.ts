import { SetMetadata } from '@nestjs/common';

import type { Audience } from './domain/access';

export const ACCESS_KEY = 'cbsg:access';

/** Who may call this endpoint (or every endpoint of this controller). Without it: admins only. */
export const Access = (...audiences: [Audience, ...Audience[]]) => SetMetadata(ACCESS_KEY, audiences);

/** Open to anyone: meters, peers and probes, whose messages carry their own signatures or nothing secret. */
export const Public = () => Access('public');
