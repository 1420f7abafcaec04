import type { BlockEntry } from '@app/ledger';
import type { ContractResultBody, ReceiverPublicationBody } from '@app/registry';

export type AlarmSeverity = 'critical' | 'warning' | 'notice';

/**
 * What receivers put on the chain that people must act on (DESIGN.md section 5): the console's alarm
 * list and GraphQL's alarm subscription. `contract.result` transactions whose actions need attention
 * (tampered data, power saving, forced trips, payment notices) and `receiver.publication`
 * transactions with findings (theft suspects, device faults).
 */
export interface ChainAlarm {
  height: string;
  position: number;
  /** Hash (hex) of the transaction that carries it. */
  transaction: string;
  source: 'contract.result' | 'receiver.publication';
  /** The action (re-upload-alarm, forced-trip...) or the publication's subject (theft-suspects...). */
  type: string;
  severity: AlarmSeverity;
  receiverId: string;
  organisation: string;
  /** The meter concerned (contract results), or null for a publication that names several. */
  meterId: string | null;
  message: string;
  /** Publications: the meters or devices named, with their reason codes. */
  subjects: Array<{ id: string; codes: string[] }>;
  /** When the receiver signed it (epoch ms). */
  at: number;
}

export const ALARM_TRANSACTION_KINDS = ['contract.result', 'receiver.publication'] as const;

/**
 * Contract actions that say all is well: not alarms. Every other action a receiver's contract takes
 * (the grid operator's feedback contract: re-upload-alarm, power-saving-mode, forced-trip,
 * notify-pay, notify-prepaid-low; or a type a newer contract introduces) is one.
 */
const ROUTINE_ACTIONS: ReadonlySet<string> = new Set(['run-as-usual', 'report-price']);

const ACTION_SEVERITY: Readonly<Record<string, AlarmSeverity>> = {
  're-upload-alarm': 'critical',
  'forced-trip': 'critical',
  'power-saving-mode': 'warning',
  'notify-pay': 'notice',
  'notify-prepaid-low': 'notice',
};

/** Publications that name meters or devices someone must look at; the others are analyses. */
const FINDINGS: Readonly<Record<string, { severity: AlarmSeverity; title: string }>> = {
  'theft-suspects': { severity: 'critical', title: 'theft suspects' },
  'device-report': { severity: 'warning', title: 'devices with faults' },
};

/** The alarms one entry of a final block raises (none for reports and registry transactions). */
export function alarmsOf(entry: BlockEntry, height: bigint | string, position: number): ChainAlarm[] {
  if (entry.type !== 'transaction') {
    return [];
  }
  const tx = entry.transaction;
  const common = {
    height: height.toString(),
    position,
    transaction: tx.hashHex,
    organisation: tx.sender,
    at: tx.timestamp,
  };
  // The chain only holds bodies the registry's rules accepted (libs/registry transaction-bodies).
  if (tx.kind === 'contract.result') {
    const body = tx.body as ContractResultBody;
    return body.results.flatMap((result) =>
      result.actions
        .filter((action) => !ROUTINE_ACTIONS.has(action.type))
        .map((action) => ({
          ...common,
          source: 'contract.result' as const,
          type: action.type,
          severity: ACTION_SEVERITY[action.type] ?? 'warning',
          receiverId: body.receiverId,
          meterId: result.meterId,
          message: action.message,
          subjects: [],
        })),
    );
  }
  if (tx.kind === 'receiver.publication') {
    const body = tx.body as ReceiverPublicationBody;
    const finding = FINDINGS[body.subject];
    if (!finding || body.summary.length === 0) {
      return [];
    }
    const named = body.summary.map((s) => s.id);
    return [
      {
        ...common,
        source: 'receiver.publication' as const,
        type: body.subject,
        severity: finding.severity,
        receiverId: body.receiverId,
        meterId: named.length === 1 ? named[0]! : null,
        message: `${named.length} ${finding.title}: ${named.slice(0, 5).join(', ')}${named.length > 5 ? ', ...' : ''}`,
        subjects: body.summary.map((s) => ({ id: s.id, codes: [...s.codes] })),
      },
    ];
  }
  return [];
}
