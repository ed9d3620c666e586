import type DataLoader from 'dataloader';
import type { EntityManager } from '@nexusflow/kit';
import type { EventLog } from './domain/event-log.ts';
import type { StoredEvent } from './domain/event-store.ts';

/** Every query runs in the request's unit of work, which sees the caller's tenant only (the kit's tenant filter). */
export function createLoaders(em: EntityManager) {
  let eventsById: DataLoader<string, StoredEvent | null> | undefined;
  return {
    /** Events by id from the event store, which is a service: the request's one loader, made on first use. */
    analyticsEventById: (events: EventLog) => (eventsById ??= events.loaderById(em)),
  };
}

export type AnalyticsLoaders = ReturnType<typeof createLoaders>;
