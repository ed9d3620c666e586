import { describeEntityContract } from '@nexusflow/kit/testing';
import { LoginAttempt } from '../src/entities/login-attempt.entity.ts';
import { subgraph } from '../src/subgraph.ts';

describeEntityContract('auth-service', {
  start: (env) => subgraph.start(env),
  entities: {
    LoginAttempt: {
      selection: 'name createdAt',
      create: (em, tenantId, count) =>
        Array.from(
          { length: count },
          (_, index) => em.create(LoginAttempt, { tenantId, createdBy: tenantId, name: `LoginAttempt ${index}` }).id,
        ),
    },
  },
});
