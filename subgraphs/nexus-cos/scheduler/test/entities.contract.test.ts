import { describeEntityContract } from '@nexusflow/kit/testing';
import { ScheduledTask } from '../src/entities/scheduled-task.entity.ts';
import { subgraph } from '../src/subgraph.ts';

describeEntityContract('scheduler', {
  start: (env) => subgraph.start(env),
  entities: {
    ScheduledTask: {
      selection: 'name createdAt',
      create: (em, tenantId, count) =>
        Array.from(
          { length: count },
          (_, index) => em.create(ScheduledTask, { tenantId, createdBy: tenantId, name: `ScheduledTask ${index}` }).id,
        ),
    },
  },
});
