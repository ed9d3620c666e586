import { randomUUID } from 'node:crypto';
import type { Database, DomainEvent, EventBus } from '@nexusflow/kit';
import { createDeferred, type Deferred } from '@nexusflow/kit/testing';
import { expect } from 'vitest';

/** Bound to the test's queue only, so that no service's consumer ever sees a marker. */
const MARKER_TYPE = 'test.marker';

/**
 * What an event bus delivers to a queue of the test's own, one event at a time and in order, so that a test can
 * count events and know the count is final: {@link settle} waits until everything published before it arrived.
 */
export class RecordedEvents {
  readonly events: DomainEvent[] = [];
  private readonly markers = new Map<string, Deferred<void>>();
  private subscription: { stop(): Promise<void> } | undefined;

  private constructor(private readonly bus: EventBus) {}

  static async start(bus: EventBus, bindings: string[]): Promise<RecordedEvents> {
    const recorded = new RecordedEvents(bus);
    recorded.subscription = await bus.subscribe(
      // One at a time: a marker is then only handled after every event queued before it.
      { queue: `test-events-${randomUUID()}`, bindings: [...bindings, MARKER_TYPE], concurrency: 1 },
      async (event) => {
        if (event.type === MARKER_TYPE) recorded.markers.get(event.id)?.resolve();
        else recorded.events.push(event);
      },
    );
    return recorded;
  }

  /** The recorded events of one execution, by type, in the order they arrived. */
  typesFor(executionId: string): string[] {
    return this.events.filter((event) => event.payload.executionId === executionId).map((event) => event.type);
  }

  /** Publishes a marker and resolves once it arrived, when every event published before it has arrived as well. */
  async settle(): Promise<void> {
    const marker: DomainEvent = { id: randomUUID(), type: MARKER_TYPE, occurredAt: new Date().toISOString(), payload: {} };
    const arrived = createDeferred<void>();
    this.markers.set(marker.id, arrived);
    await this.bus.publish(marker);
    await arrived.promise;
    this.markers.delete(marker.id);
  }

  async stop(): Promise<void> {
    await this.subscription?.stop();
  }
}

/**
 * Resolves once a service's outbox holds no unpublished event: everything it recorded until now has been confirmed by
 * the broker, so a marker published afterwards arrives after all of it.
 */
export async function outboxDrained(database: Database): Promise<void> {
  const pending = async () => {
    const [row] = await database
      .fork()
      .getConnection()
      .execute<{ pending: number }[]>('select count(*)::int as pending from outbox_events where published_at is null');
    return row?.pending;
  };
  await expect.poll(pending, { timeout: 20_000 }).toBe(0);
}
