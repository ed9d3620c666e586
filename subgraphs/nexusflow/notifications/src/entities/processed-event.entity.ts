import { defineEntity, p } from '@mikro-orm/postgresql';

/** Domain events already handled: the bus delivers at least once, this makes handling happen once. */
export const ProcessedEventSchema = defineEntity({
  name: 'ProcessedEvent',
  tableName: 'processed_events',
  properties: {
    eventId: p.uuid().primary(),
    processedAt: p.datetime().onCreate(() => new Date()),
  },
});

export class ProcessedEvent extends ProcessedEventSchema.class {}
ProcessedEventSchema.setClass(ProcessedEvent);
