import { requestLogLevel } from './request-log-level';

describe('requestLogLevel', () => {
  const level = (method: string, url: string, statusCode: number, error?: Error, retryAfter?: string) =>
    requestLogLevel(
      { method, url },
      { statusCode, getHeader: (name: string) => (name === 'retry-after' ? retryAfter : undefined) },
      error,
    );

  it('logs accepted report submissions, peer traffic and scrapes at debug level only', () => {
    expect(level('POST', '/reports', 201)).toBe('debug');
    expect(level('POST', '/reports', 200)).toBe('debug');
    expect(level('POST', '/reports/batch', 200)).toBe('debug');
    expect(level('POST', '/p2p/blocks', 202)).toBe('debug');
    expect(level('GET', '/metrics', 200)).toBe('debug');
  });

  it('keeps reads, other writes and look-alike paths at info', () => {
    expect(level('GET', '/reports/' + 'ab'.repeat(32), 200)).toBe('info');
    expect(level('POST', '/reports/batchx', 200)).toBe('info');
    expect(level('POST', '/registry/meters', 201)).toBe('info');
    expect(level('GET', '/chain/head', 200)).toBe('info');
  });

  it('logs every refusal and failure, submissions included', () => {
    expect(level('POST', '/reports', 400)).toBe('warn');
    expect(level('POST', '/reports/batch', 429)).toBe('warn');
    expect(level('POST', '/p2p/blocks', 401)).toBe('warn');
    expect(level('POST', '/reports', 503)).toBe('error');
    expect(level('POST', '/reports', 201, new Error('socket closed'))).toBe('error');
  });

  it('logs back-pressure (503 with Retry-After) as a warning, not as a failure', () => {
    const synthesized = new Error('failed with status code 503');
    expect(level('POST', '/reports/batch', 503, synthesized, '2')).toBe('warn');
    expect(level('POST', '/reports/batch', 503, synthesized)).toBe('error');
  });
});
