import { parentPort, workerData } from 'node:worker_threads';

import { CryptoError } from '../errors';
import { ReceiverPrivateKey, type RegisteredMeter, TrustedMeterKeys } from '../keys';
import { initCrypto } from '../mcl';
import { Report } from '../report';
import { SecretScalar } from '../secret';
import { BatchItem, ReportVerdict, verifyReportBatch } from '../signature';
import { SystemParams } from '../system';
import { ShareDecryptor, ShareResult } from '../unsigncrypt';
import { FromWorker, serializeError, ToWorker, unpack, WorkerInit } from './protocol';

/*
 * One crypto worker thread: mcl initialised once, the system parameters decoded once, an LRU of
 * decoded meter keys, and one ShareDecryptor (with its epoch-key cache) per receiver key loaded.
 */

const port = parentPort;
if (port === null) {
  throw new Error('crypto.worker must run in a worker thread');
}
const init = workerData as WorkerInit;

function post(message: FromWorker): void {
  port?.postMessage(message);
}

async function main(): Promise<void> {
  await initCrypto();
  // Parameters come from the pool's caller, who read them from our own storage or checked them.
  const params = SystemParams.fromTrustedBytes(init.params);
  // Meter records come from the node's own registry, where they were checked in full at registration,
  // so they are decoded here without the subgroup check (DESIGN.md section 2).
  const meters = new TrustedMeterKeys(init.meterCacheSize);
  const decryptors = new Map<number, ShareDecryptor>();

  const handle = (msg: ToWorker): unknown => {
    switch (msg.type) {
      case 'add-receiver': {
        const key = ReceiverPrivateKey.create(params, msg.id, SecretScalar.fromBytes(msg.secret));
        msg.secret.fill(0);
        decryptors.set(msg.handle, new ShareDecryptor(key, { epochKeyCacheSize: init.epochKeyCacheSize }));
        return null;
      }
      case 'verify': {
        const records = unpack(msg.meters).map((record) => meters.get(record));
        const reportBytes = unpack(msg.reports);
        const verdicts: ReportVerdict[] = new Array<ReportVerdict>(reportBytes.length);
        const items: BatchItem[] = [];
        const positions: number[] = [];
        for (const [i, bytes] of reportBytes.entries()) {
          try {
            items.push({
              report: Report.decode(bytes),
              meter: records[msg.meterOf[i] ?? 0] as RegisteredMeter,
            });
            positions.push(i);
          } catch (e) {
            if (!(e instanceof CryptoError)) {
              throw e;
            }
            verdicts[i] = { valid: false, code: e.code, message: e.message };
          }
        }
        const batch = verifyReportBatch(params, items);
        for (const [k, v] of batch.verdicts.entries()) {
          verdicts[positions[k] as number] = v;
        }
        return verdicts;
      }
      case 'open': {
        const decryptor = decryptors.get(msg.handle);
        if (decryptor === undefined) {
          throw new Error(`no receiver key with handle ${msg.handle} in this worker`);
        }
        // Reports that do not parse get their error; the rest are opened as one batch (pairings first).
        const parsed: (Report | CryptoError)[] = unpack(msg.reports).map((bytes) => {
          try {
            return Report.decode(bytes);
          } catch (e) {
            if (e instanceof CryptoError) {
              return e;
            }
            throw e;
          }
        });
        const opened = decryptor.openAll(parsed.filter((p): p is Report => p instanceof Report));
        let next = 0;
        return parsed.map((p) => {
          if (p instanceof CryptoError) {
            return { ok: false, error: serializeError(p) };
          }
          const r = opened[next++] as ShareResult;
          return r.ok ? r : { ok: false, error: serializeError(r.error) };
        });
      }
    }
  };

  port?.on('message', (msg: ToWorker) => {
    try {
      post({ type: 'result', taskId: msg.taskId, value: handle(msg) });
    } catch (e) {
      post({ type: 'failure', taskId: msg.taskId, error: serializeError(e) });
    }
  });
  post({ type: 'ready' });
}

main().catch((e: unknown) => {
  // Without mcl this worker is useless: die, and let the pool see the exit.
  setImmediate(() => {
    throw e;
  });
});
