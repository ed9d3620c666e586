import { describeEntityContract } from '@nexusflow/kit/testing';
import { User } from '../src/entities/user.entity.ts';
import { subgraph } from '../src/subgraph.ts';

describeEntityContract('user-auth', {
  start: (env) => subgraph.start(env),
  entities: {
    User: {
      selection: 'name createdAt',
      create: (em, tenantId, count) =>
        Array.from({ length: count }, (_, index) => em.create(User, { tenantId, createdBy: tenantId, name: `User ${index}` }).id),
    },
  },
});
