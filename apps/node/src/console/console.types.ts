// The JSON that the console's admin API answers. The front end (apps/console) imports these types
// too, so this file stays free of imports: it must compile for the browser as it is.

/** GET /admin/session: whose key signed the call. */
export interface ConsoleSession {
  keyId: string;
  name: string;
  nodeId: string;
  chainId: string;
  slotMs: number;
  producers: number;
  maxBlockTransactions: number;
}

/** One second of intake: reports this node accepted into its mempool (from meters and from peers). */
export interface IntakeSample {
  /** Epoch ms at the end of the second. */
  at: number;
  accepted: number;
  mempool: number;
}

/** GET /admin/mempool */
export interface MempoolView {
  reports: number;
  transactions: number;
  /** Reports waiting for their signature check. */
  verifying: number;
  /** Reports per second accepted over the last 10 s. */
  intakePerSecond: number;
  /** The last minutes, one sample a second, oldest first. */
  samples: IntakeSample[];
}

export type QueueState = 'waiting' | 'active' | 'failed' | 'delayed' | 'completed' | 'prioritized';

export interface FailedJob {
  id: string;
  name: string;
  reason: string;
  attemptsMade: number;
  /** Epoch ms. */
  createdAt: number;
  failedAt: number | null;
  /** The payload, cut to a few hundred characters. */
  data: string;
}

export interface QueueView {
  name: string;
  /** Null when Redis could not be asked (then `error` says why). */
  counts: Record<QueueState, number> | null;
  /** Failed jobs have used all their attempts: the dead letters, kept until someone retries them. */
  failed: FailedJob[];
  error?: string;
}

export interface OutboxView {
  /** Rows not handed to BullMQ yet. */
  undelivered: number;
  /** ISO time of the oldest undelivered row. */
  oldestAt: string | null;
  /** Rows whose delivery failed at least once, newest problems first. */
  stuck: Array<{
    id: string;
    queue: string;
    jobName: string;
    attempts: number;
    lastError: string | null;
    createdAt: string;
  }>;
}

/** GET /admin/queues */
export interface QueuesView {
  queues: QueueView[];
  outbox: OutboxView;
}

/** POST /admin/queues/:queue/jobs/:jobId/retry and POST /admin/queues/:queue/retry-failed */
export interface RetryResult {
  queue: string;
  retried: number;
}

export type AlarmSeverity = 'critical' | 'warning' | 'notice';

/** An alarm raised on the final chain by a receiver: a contract's action or a published finding. */
export interface Alarm {
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

/** GET /admin/alarms */
export interface AlarmPage {
  alarms: Alarm[];
  /** Pass as `cursor` for older alarms; null when the chain has no older ones. */
  next: string | null;
}

export interface BlockPoint {
  height: string;
  round: string;
  timestamp: string;
  transactions: number;
  reports: number;
}

export interface RoundPoint {
  round: string;
  missed: number;
  /** Slots of the round that are final so far (produced or missed). */
  settled: number;
}

/** GET /admin/charts */
export interface ChartsView {
  blocks: BlockPoint[];
  rounds: RoundPoint[];
  /** Final reports per minute (by block time), oldest first. */
  minutes: Array<{ minute: string; reports: number }>;
}

export interface DelegateStandingView {
  id: string;
  organisation: string;
  status: string;
  /** Sum of the stakes of the organisations that approve it (decimal string). */
  votes: string;
  rank: number;
  elected: boolean;
  /** Kept out of the current round for slots missed in round r-2: the slots, else null. */
  droppedFor: { round: string; slots: string[] } | null;
  hostedHere: boolean;
  produced: number;
  missed: number;
  /** Missed slots in the last rounds (see `recentRounds`). */
  recentlyMissed: number;
}

/** GET /admin/standing */
export interface StandingView {
  round: string;
  recentRounds: number;
  delegates: DelegateStandingView[];
  ballots: Array<{ organisation: string; stake: string; approves: string[]; updatedAt: string | null }>;
}

export interface MeterRow {
  id: string;
  status: string;
  registrar: string;
  location: string | null;
  receivers: string[];
  registeredAt: string;
  /** Height of the meter's latest report in the final chain, if any. */
  lastReportHeight: string | null;
}

/** GET /admin/meters */
export interface MeterPage {
  meters: MeterRow[];
  total: number;
  /** Pass as `cursor` for the next page; null on the last. */
  next: string | null;
}
