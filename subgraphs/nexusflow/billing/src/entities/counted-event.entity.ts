import { defineEntity, p } from '@mikro-orm/postgresql';

/** A bus event already added to a usage counter: the bus delivers at least once, and each event counts once. */
export const CountedEventSchema = defineEntity({
  name: 'CountedEvent',
  tableName: 'counted_events',
  properties: {
    eventId: p.uuid().primary(),
    countedAt: p.datetime(),
  },
});

export class CountedEvent extends CountedEventSchema.class {}
CountedEventSchema.setClass(CountedEvent);
