/** Who caused a change and why: carried by every stored event (DESIGN.md section 6). */
export interface EventMetadata {
  /** Ties together everything one request or job caused. */
  correlationId?: string;
  /** The command or event that caused this event. */
  causationId?: string;
  /** The authenticated organisation, node or operator behind the change. */
  actor?: string;
}

/**
 * An event as the domain raises it, before it has a position. `type` is a stable string that must
 * never change once events of that type are stored (class names may); `schemaVersion` grows when the
 * payload's shape changes.
 */
export interface NewEvent<P extends object = object> {
  readonly type: string;
  readonly schemaVersion: number;
  readonly payload: P;
  readonly metadata?: EventMetadata;
  /** Defaults to the store's clock. */
  readonly occurredAt?: Date;
}

/** An event with its place in the journal, as published after the commit that stored it. */
export interface RecordedEvent<P extends object = Record<string, unknown>> {
  readonly position: bigint;
  readonly streamId: string;
  readonly streamVersion: number;
  readonly type: string;
  readonly schemaVersion: number;
  readonly payload: P;
  readonly metadata: EventMetadata;
  readonly occurredAt: Date;
}

/** An event read back from the store, with its hashes. */
export interface StoredEvent<P extends object = Record<string, unknown>> extends RecordedEvent<P> {
  readonly contentHash: Uint8Array;
  readonly chainHash: Uint8Array;
}
