import { describeEntityContract } from '@nexusflow/kit/testing';
import { OAuthClient } from '../src/entities/oauth-client.entity.ts';
import { subgraph } from '../src/subgraph.ts';

describeEntityContract('auth-service-v2', {
  start: (env) => subgraph.start(env),
  entities: {
    OAuthClient: {
      selection: 'name createdAt',
      create: (em, tenantId, count) =>
        Array.from(
          { length: count },
          (_, index) => em.create(OAuthClient, { tenantId, createdBy: tenantId, name: `OAuthClient ${index}` }).id,
        ),
    },
  },
});
