import { Logger } from '@nestjs/common';
import type { IEvent, IEventHandler } from '@nestjs/cqrs';

import type { EventMetadata, NewEvent, RecordedEvent } from '@app/kernel';

/**
 * A committed journal event as the in-process EventBus carries it: handlers receive instances of the
 * class registered for its stable type string. Declare one with:
 *
 *   @DomainEvent('intake.report-accepted', 1)
 *   export class ReportAcceptedEvent extends JournalEvent<ReportAccepted> {}
 *
 * and create the event to append with `ReportAcceptedEvent.create(payload, metadata)`.
 */
export abstract class JournalEvent<P extends object = Record<string, unknown>> implements IEvent {
  constructor(readonly record: RecordedEvent<P>) {}

  get payload(): P {
    return this.record.payload;
  }

  /** The event to append, with this class's type and schema version. */
  static create<P extends object>(
    this: { prototype: JournalEvent<P> },
    payload: P,
    metadata?: EventMetadata,
  ): NewEvent<P> {
    const registered = typeOf(this as unknown as JournalEventClass);
    return { type: registered.type, schemaVersion: registered.schemaVersion, payload, metadata };
  }
}

type JournalEventClass = new (record: RecordedEvent<never>) => JournalEvent<object>;

const byType = new Map<string, JournalEventClass>();
const typeOfClass = new Map<JournalEventClass, { type: string; schemaVersion: number }>();

/** Registers a JournalEvent class under its stable type string (never reuse or rename one). */
export function DomainEvent(type: string, schemaVersion = 1) {
  return (target: JournalEventClass): void => {
    const existing = byType.get(type);
    if (existing && existing !== target) {
      throw new Error(`event type "${type}" is registered by ${existing.name} and ${target.name}`);
    }
    byType.set(type, target);
    typeOfClass.set(target, { type, schemaVersion });
  };
}

function typeOf(target: JournalEventClass): { type: string; schemaVersion: number } {
  const registered = typeOfClass.get(target);
  if (!registered) {
    throw new Error(`${target.name} is not decorated with @DomainEvent`);
  }
  return registered;
}

/** The bus form of a recorded event, or undefined when no class is registered for its type. */
export function toJournalEvent(record: RecordedEvent): JournalEvent | undefined {
  const EventClass = byType.get(record.type);
  return EventClass ? (new EventClass(record as RecordedEvent<never>) as unknown as JournalEvent) : undefined;
}

/**
 * Base of every @EventsHandler of ours. A failing `process` is logged and retried with exponential
 * back-off (`retries` times); it never throws into the bus, so one bad event neither crashes the
 * process nor unsubscribes the handler from the next ones. Work that must survive a crash belongs
 * in a Projection (checkpointed) or an outbox job, not here.
 */
export abstract class ResilientEventHandler<E extends JournalEvent<object>> implements IEventHandler<E> {
  protected readonly logger = new Logger(this.constructor.name);
  protected readonly retries: number = 5;
  protected readonly firstRetryMs: number = 100;

  protected abstract process(event: E): Promise<void>;

  async handle(event: E): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        await this.process(event);
        return;
      } catch (error) {
        const where = `${event.record.type} at position ${event.record.position}`;
        if (attempt > this.retries) {
          this.logger.error(
            `gave up on ${where} after ${attempt} attempts: ${(error as Error).message}`,
            (error as Error).stack,
          );
          return;
        }
        const delay = this.firstRetryMs * 2 ** (attempt - 1);
        this.logger.warn(
          `failed on ${where} (attempt ${attempt}), retrying in ${delay} ms: ${(error as Error).message}`,
        );
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }
}
