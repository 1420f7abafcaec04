// The JSON of the node's existing endpoints that the console reads (their server-side types live in
// libs/chain and apps/node/src/registry; these are the shapes as they arrive, dates as ISO strings).
// The console's own admin API is typed in apps/node/src/console/console.types.ts.
export type * from '../../node/src/console/console.types';

/** GET /chain/status */
export interface ChainStatus {
  chainId: string;
  nodeId: string;
  currentSlot: string;
  currentRound: string;
  final: { height: string; hash: string; slot: string };
  head: { height: string; hash: string; slot: string };
  candidates: number;
  localDelegates: string[];
  totals: { reports: number; transactions: number; missedSlots: number };
}

/** GET /schedule */
export interface RoundView {
  round: string;
  elected: string[];
  slots: Array<{ slot: string; producer: string; height: string | null; missed: boolean }>;
  /** Kept out of this round's election for the slots they missed in round r-2. */
  dropped: Array<{ delegate: string; missedRound: string; missedSlots: string[] }>;
}

/** GET /missed-slots */
export interface MissedSlotPage {
  missedSlots: Array<{ slot: string; round: string; delegate: string }>;
  next: string | null;
}

/** GET /blocks */
export interface BlockPage {
  blocks: Array<{
    height: string;
    hash: string;
    slot: string;
    round: string;
    producer: string;
    timestamp: string;
    transactionCount: number;
    finalizedAt: string;
  }>;
  next: string | null;
}

/** POST /chain/verify */
export interface ChainVerification {
  ok: boolean;
  blocksChecked: number;
  reportsChecked: number;
  transactionsChecked: number;
  firstBad?: { height: string; reason: string };
  seconds: number;
}

/** GET /receivers */
export interface ReceiverView {
  id: string;
  organisation: string;
  role: string;
  status: string;
  publicKey: string;
  alpha: string | null;
  registeredTx: string;
  activatedTx: string | null;
  revokedReason: string | null;
}

/** GET /meters/:id (as an admin sees it: with the owner and location). */
export interface MeterDetail {
  id: string;
  registrar: string;
  status: string;
  publicKey: string;
  dimensions: string[];
  policy: Array<{ receiver: string; dimensions: string[] }>;
  epoch: { maxReports: number; maxAgeMs: number };
  owner?: { name: string; notifyUrl: string };
  location?: string | null;
  registeredTx: string;
  activatedTx: string | null;
  revokedTx: string | null;
  revokedReason: string | null;
  registeredAt: string;
  updatedAt: string;
}

/** Every refusal of the node: { statusCode, code, message }. */
export interface ErrorBody {
  statusCode: number;
  code: string;
  message: string;
}
