import { ConfigError } from './app-config';
import { parseReceiverConfig } from './receiver-config';

const BASE = {
  RECEIVER_ID: 'cc-analytics',
  RECEIVER_KEYSTORE: '/keys/cc.json',
  KEYSTORE_PASSPHRASE: 'a long passphrase',
  NODE_URL: 'http://127.0.0.1:3000',
  GENESIS_FILE: '/keys/genesis.json',
  DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/cc',
  ORGANISATION_ID: 'control-center',
  ORGANISATION_KEYSTORE: '/keys/org.json',
};

describe('receiver configuration: scheduled publications', () => {
  it('given PUBLISH with Redis, should schedule each subject once, every period, over the window', () => {
    const config = parseReceiverConfig({
      ...BASE,
      PUBLISH: 'theft-suspects, device-report,theft-suspects',
      PUBLISH_EVERY_SECONDS: '900',
      REDIS_URL: 'redis://127.0.0.1:6379',
    });
    expect(config.publications).toEqual({
      subjects: ['theft-suspects', 'device-report'],
      everyMs: 900_000,
      windowHours: 24,
      redisUrl: 'redis://127.0.0.1:6379',
      queuePrefix: 'cbsg-receiver',
    });
    expect(parseReceiverConfig(BASE).publications).toBeUndefined();
  });

  it('given PUBLISH without Redis, an unknown subject or a zero period, should refuse to start and say why', () => {
    const problems = (env: Record<string, string>) => {
      try {
        parseReceiverConfig({ ...BASE, ...env });
        return 'accepted';
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as Error).message;
      }
    };
    expect(problems({ PUBLISH: 'theft-suspects' })).toMatch(/PUBLISH needs REDIS_URL/);
    expect(problems({ PUBLISH: 'gossip', REDIS_URL: 'redis://127.0.0.1:6379' })).toMatch(
      /must list theft-suspects and\/or device-report/,
    );
    expect(
      problems({ PUBLISH: 'device-report', PUBLISH_EVERY_SECONDS: '0', REDIS_URL: 'redis://127.0.0.1:6379' }),
    ).toMatch(/PUBLISH_EVERY_SECONDS/);
  });
});

describe('receiver configuration: head-digest witness', () => {
  it('given WITNESS_NODE_URLS, should keep the digests of the followed node first and of each listed node once', () => {
    expect(parseReceiverConfig(BASE).witness).toEqual({
      nodeUrls: ['http://127.0.0.1:3000'],
      intervalMs: 10_000,
    });
    expect(
      parseReceiverConfig({
        ...BASE,
        WITNESS_NODE_URLS: 'http://127.0.0.1:3001/, http://127.0.0.1:3000,https://node-3.example:443',
        WITNESS_INTERVAL_SECONDS: '30',
      }).witness,
    ).toEqual({
      nodeUrls: ['http://127.0.0.1:3000', 'http://127.0.0.1:3001', 'https://node-3.example:443'],
      intervalMs: 30_000,
    });
  });

  it('given a witness URL that is not http(s) or a zero interval, should refuse to start and name it', () => {
    expect(() =>
      parseReceiverConfig({ ...BASE, WITNESS_NODE_URLS: 'http://127.0.0.1:3001,ftp://x' }),
    ).toThrow(/WITNESS_NODE_URLS ftp:\/\/x is not an http\(s\) URL/);
    expect(() => parseReceiverConfig({ ...BASE, WITNESS_INTERVAL_SECONDS: '0' })).toThrow(
      /WITNESS_INTERVAL_SECONDS/,
    );
  });
});

describe('receiver configuration: its transactions until final', () => {
  it('given nothing set, should look a transaction up after a minute and keep it a week once final', () => {
    expect(parseReceiverConfig(BASE).sent).toEqual({
      resendAfterMs: 60_000,
      retentionMs: 7 * 24 * 3_600_000,
    });
  });

  it('given RESEND_AFTER_SECONDS and SENT_RETENTION_HOURS, should take them, and refuse zero', () => {
    expect(
      parseReceiverConfig({ ...BASE, RESEND_AFTER_SECONDS: '5', SENT_RETENTION_HOURS: '2' }).sent,
    ).toEqual({ resendAfterMs: 5_000, retentionMs: 7_200_000 });
    expect(() => parseReceiverConfig({ ...BASE, RESEND_AFTER_SECONDS: '0' })).toThrow(/RESEND_AFTER_SECONDS/);
    expect(() => parseReceiverConfig({ ...BASE, SENT_RETENTION_HOURS: '0' })).toThrow(/SENT_RETENTION_HOURS/);
  });
});
