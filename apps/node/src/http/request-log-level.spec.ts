import { requestLogLevel } from './request-log-level';

describe('requestLogLevel', () => {
  const level = (method: string, url: string, statusCode: number, error?: Error) =>
    requestLogLevel({ method, url }, { statusCode }, error);

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
});
