import { describeEntityContract } from '@nexusflow/kit/testing';
import { ScheduledTask } from '../src/entities/scheduled-task.entity.ts';
import { subgraph } from '../src/subgraph.ts';

describeEntityContract('scheduler', {
  start: (env) => subgraph.start({ ...env, RUN_TICKER: 'false' }),
  entities: {
    ScheduledTask: {
      selection: 'name target status nextRunAt runs(last: 3) { id status }',
      create: (em, tenantId, count) =>
        Array.from(
          { length: count },
          (_, index) =>
            em.create(ScheduledTask, {
              tenantId,
              createdBy: tenantId,
              name: `Task ${index}`,
              target: 'invoice-gen',
              path: '/tasks/close-period',
              payload: { index },
              cron: '0 3 * * *',
              timezone: 'Europe/Berlin',
              runAt: null,
              status: 'ACTIVE',
              misfirePolicy: 'RUN_ONCE',
              maxAttempts: 5,
              timeoutSeconds: 10,
              nextRunAt: new Date('2030-01-01T02:00:00Z'),
              lastRunAt: null,
              deletedAt: null,
            }).id,
        ),
    },
  },
});
