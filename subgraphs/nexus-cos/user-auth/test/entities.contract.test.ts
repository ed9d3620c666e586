import { Role } from '@nexusflow/kit';
import { describeEntityContract } from '@nexusflow/kit/testing';
import { User } from '../src/entities/user.entity.ts';
import { subgraph } from '../src/subgraph.ts';

describeEntityContract('user-auth', {
  start: (env) => subgraph.start(env),
  entities: {
    User: {
      selection: 'email name role',
      create: (em, tenantId, count) =>
        Array.from(
          { length: count },
          (_, index) =>
            em.create(User, {
              tenantId,
              email: `contract-${tenantId}-${index}@example.com`,
              name: `User ${index}`,
              role: Role.Member,
              passwordHash: 'scrypt$unused',
            }).id,
        ),
    },
  },
});
