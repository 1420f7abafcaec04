/**
 * One clear line for the ways a service can be out of reach, with what to do about it. Used at start-up
 * (the process stops with this line) and by the migration script.
 */
export function describeConnectionError(
  service: 'PostgreSQL' | 'Redis',
  url: string,
  error: unknown,
  /** The setting that holds the URL, for the advice to fix it. */
  variable = service === 'PostgreSQL' ? 'DATABASE_URL' : 'REDIS_URL',
): string {
  const where = safeLocation(url);
  const code = (error as { code?: string } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  const start =
    service === 'PostgreSQL'
      ? `start it (pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start, or docker compose -f docker/compose.yml up -d) or fix ${variable}`
      : `start it (redis-server --daemonize yes --port 6379, or docker compose -f docker/compose.yml up -d) or fix ${variable}`;
  switch (code) {
    case 'ECONNREFUSED':
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot reach ${service} at ${where} (${code}): ${start}`;
    case '3D000':
      return `${service} at ${where} has no such database: run \`npm run db:migrate\`, which creates it`;
    case '28P01':
    case '28000':
      return `${service} at ${where} refused the credentials in the URL: fix ${variable}`;
    default:
      return `cannot use ${service} at ${where}: ${message}`;
  }
}

/** host:port/db without credentials, for messages and logs. */
export function safeLocation(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || (u.protocol.startsWith('redis') ? '6379' : '5432')}${u.pathname === '/' ? '' : u.pathname}`;
  } catch {
    return '(unparseable URL)';
  }
}
