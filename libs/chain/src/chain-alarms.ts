import type { BlockEntry } from '@app/ledger';

/**
 * What receivers put on the chain that people must act on (the console's alarms, GraphQL's alarm
 * subscription): contract results other than the routine ones, and every publication of findings.
 */
export interface ChainAlarm {
  height: string;
  /** Hash (hex) of the transaction. */
  transaction: string;
  kind: 'contract.result' | 'receiver.publication';
  receiverId: string;
  /** The action (forced-trip, re-upload-alarm, ...) or the publication's subject (theft-suspects, ...). */
  type: string;
  meterId: string | null;
  message: string;
}

/** Results that only say all is well: not alarms. */
const ROUTINE_ACTIONS: ReadonlySet<string> = new Set(['run-as-usual', 'report-price']);

/** The alarms one entry of a final block raises (none for reports and registry transactions). */
export function alarmsOf(entry: BlockEntry, height: bigint): ChainAlarm[] {
  if (entry.type !== 'transaction') {
    return [];
  }
  const tx = entry.transaction;
  const common = { height: height.toString(), transaction: tx.hashHex };
  if (tx.kind === 'contract.result') {
    const body = tx.body as {
      receiverId: string;
      meterId: string;
      actions: Array<{ type: string; message: string }>;
    };
    return body.actions
      .filter((a) => !ROUTINE_ACTIONS.has(a.type))
      .map((a) => ({
        ...common,
        kind: 'contract.result' as const,
        receiverId: body.receiverId,
        type: a.type,
        meterId: body.meterId,
        message: a.message,
      }));
  }
  if (tx.kind === 'receiver.publication') {
    const body = tx.body as {
      receiverId: string;
      subject: string;
      summary: Array<{ id: string; codes: string[] }>;
    };
    return [
      {
        ...common,
        kind: 'receiver.publication',
        receiverId: body.receiverId,
        type: body.subject,
        meterId: null,
        message:
          body.summary.length === 0
            ? 'nothing to report'
            : body.summary.map((s) => `${s.id}: ${s.codes.join(', ')}`).join('; '),
      },
    ];
  }
  return [];
}
