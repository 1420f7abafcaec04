import { parentPort } from 'node:worker_threads';

import '../src/pool/crypto.worker';
import { Packed, unpack } from '../src/pool/protocol';

// Test fixture: the real crypto worker, plus one way to kill its thread mid-task: a task whose first
// report is the bytes "CRASH". This listener runs before the worker's own (which is attached only
// after mcl has initialised), so the thread exits before the task is answered.
const CRASH = Buffer.from('CRASH');

parentPort?.on('message', (msg: { type: string; reports?: Packed }) => {
  if (msg.reports !== undefined) {
    const first = unpack(msg.reports)[0];
    if (first !== undefined && CRASH.equals(first)) {
      process.exit(3);
    }
  }
});
