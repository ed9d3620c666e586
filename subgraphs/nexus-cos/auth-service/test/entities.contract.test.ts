import { randomUUID } from 'node:crypto';
import { describeEntityContract } from '@nexusflow/kit/testing';
import { SignIn } from '../src/entities/sign-in.entity.ts';
import { subgraph } from '../src/subgraph.ts';

describeEntityContract('auth-service', {
  start: (env) => subgraph.start(env),
  entities: {
    SignIn: {
      selection: 'sessionId clientAddress createdAt',
      create: (em, tenantId, count) =>
        Array.from(
          { length: count },
          () => em.create(SignIn, { tenantId, userId: tenantId, sessionId: randomUUID(), clientAddress: '127.0.0.1', userAgent: null }).id,
        ),
    },
  },
});
