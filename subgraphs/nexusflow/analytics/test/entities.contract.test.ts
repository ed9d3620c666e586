import { randomUUID } from 'node:crypto';
import { describeEntityContract } from '@nexusflow/kit/testing';
import { MonthlyPartitions } from '../src/domain/partitions.ts';
import { AnalyticsEvent } from '../src/entities/analytics-event.entity.ts';
import { subgraph } from '../src/subgraph.ts';

describeEntityContract('analytics', {
  start: (env) => subgraph.start(env),
  entities: {
    AnalyticsEvent: {
      selection: 'occurredAt type subjectId payload',
      create: async (em, tenantId, count) => {
        const occurredAt = new Date();
        await new MonthlyPartitions().ensureFor(em, occurredAt);
        return Array.from(
          { length: count },
          (_, index) =>
            em.create(AnalyticsEvent, {
              id: randomUUID(),
              occurredAt,
              tenantId,
              type: 'workflow.created',
              subjectId: `w-${index}`,
              subjectIds: { workflowId: `w-${index}` },
              payload: { workflowId: `w-${index}` },
            }).id,
        );
      },
    },
  },
});
