import type { IncomingMessage, ServerResponse } from 'node:http';

import type { Level } from 'pino';

/**
 * The level of a request's access-log line. Peers talk several times a slot, scrapers poll and
 * meters report all day (a million meters is over a thousand submissions a second, which the
 * metrics count): their successes are logged at debug level only. Every refusal stays visible.
 */
export function requestLogLevel(
  req: Pick<IncomingMessage, 'method' | 'url'>,
  res: Pick<ServerResponse, 'statusCode' | 'getHeader'>,
  error?: Error,
): Level {
  // A 503 with Retry-After is back-pressure the node chose (mempool full, catching up with the
  // chain), a warning; pino-http makes an error of every 5xx, so it is told apart here.
  if (res.statusCode === 503 && res.getHeader('retry-after') !== undefined) {
    return 'warn';
  }
  if (error || res.statusCode >= 500) {
    return 'error';
  }
  if (res.statusCode >= 400) {
    return 'warn';
  }
  const url = req.url ?? '';
  if (/^\/(p2p|metrics)\b/.test(url) || (req.method === 'POST' && /^\/reports(\/batch)?(\?|$)/.test(url))) {
    return 'debug';
  }
  return 'info';
}
