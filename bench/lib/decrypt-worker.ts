// A decryption worker process for bench:receiver's scale-out phase: takes jobs of reports from a
// BullMQ queue, opens this receiver's share of each in its own crypto pool, and answers with counts.
// The receiver's secret arrives on stdin (never on the command line or in the environment).
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';

import { CryptoPool, fromHex, initCrypto, SecretScalar, SystemParams } from '@app/crypto';

async function main(): Promise<void> {
  let input = '';
  for await (const chunk of process.stdin) {
    input += String(chunk);
  }
  const { params, receiverId, secret, queue, prefix } = JSON.parse(input) as {
    params: unknown;
    receiverId: string;
    secret: string;
    queue: string;
    prefix: string;
  };
  await initCrypto();
  const crypto = await CryptoPool.start(SystemParams.fromJSON(params), { size: 1 });
  const receiver = await crypto.loadReceiverKey(
    receiverId,
    SecretScalar.fromBytes(fromHex(secret, 'secret')),
  );
  const connection = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', {
    maxRetriesPerRequest: null,
  });
  const worker = new Worker(
    queue,
    async (job) => {
      const reports = (job.data as { reports: string[] }).reports.map((r) => Buffer.from(r, 'base64'));
      const outcomes = await crypto.openShares(receiver, reports);
      return { opened: outcomes.filter((o) => o.ok).length, failed: outcomes.filter((o) => !o.ok).length };
    },
    { connection, prefix, concurrency: 1 },
  );
  process.on('SIGTERM', () => {
    void worker
      .close()
      .then(() => crypto.close())
      .then(() => connection.quit())
      .then(() => process.exit(0));
  });
  process.stdout.write('ready\n');
}

main().catch((error: unknown) => {
  process.stderr.write(`decrypt-worker: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
