import { describeEntityContract } from '@nexusflow/kit/testing';
import { Session } from '../src/entities/session.entity.ts';
import { subgraph } from '../src/subgraph.ts';

const DAY_MS = 86_400_000;

describeEntityContract('session-mgr', {
  start: (env) => subgraph.start(env),
  entities: {
    Session: {
      selection: 'userId lastRefreshedAt absoluteExpiresAt',
      create: (em, tenantId, count) =>
        Array.from({ length: count }, (_, index) => {
          const now = Date.now();
          return em.create(Session, {
            tenantId,
            userId: tenantId,
            roles: ['MEMBER'],
            userAgent: `Browser ${index}`,
            lastRefreshedAt: new Date(now),
            idleExpiresAt: new Date(now + DAY_MS),
            absoluteExpiresAt: new Date(now + 30 * DAY_MS),
          }).id;
        }),
    },
  },
});
