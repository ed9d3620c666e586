import type { DomainEvent } from '@nexusflow/kit';
import type { EventStore } from './event-store.ts';
import { rowOfEvent } from './events.ts';

export type Ingested = 'stored' | 'alreadyStored' | 'ignored';

/** Stores each bus event once by its id: a redelivery (the same id and time) counts once. */
export class EventIngestion {
  constructor(
    private readonly store: EventStore,
    private readonly now: () => number,
  ) {}

  async ingest(event: DomainEvent): Promise<Ingested> {
    const row = rowOfEvent(event);
    if (!row) return 'ignored';
    return this.store.insert(row, new Date(this.now()));
  }
}
