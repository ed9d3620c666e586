import { loaderById, type EntityManager } from '@nexusflow/kit';
import { AnalyticsEvent } from './entities/analytics-event.entity.ts';

/** Every query runs in the request's unit of work, which sees the caller's tenant only (the kit's tenant filter). */
export function createLoaders(em: EntityManager) {
  return { analyticsEventById: loaderById(em, AnalyticsEvent) };
}

export type AnalyticsLoaders = ReturnType<typeof createLoaders>;
