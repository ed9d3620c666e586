import { describeEntityContract } from '@nexusflow/kit/testing';
import { Session } from '../src/entities/session.entity.ts';
import { subgraph } from '../src/subgraph.ts';

describeEntityContract('session-mgr', {
  start: (env) => subgraph.start(env),
  entities: {
    Session: {
      selection: 'name createdAt',
      create: (em, tenantId, count) =>
        Array.from({ length: count }, (_, index) => em.create(Session, { tenantId, createdBy: tenantId, name: `Session ${index}` }).id),
    },
  },
});
