import { describeEntityContract } from '@nexusflow/kit/testing';
import { Integration } from '../src/entities/integration.entity.ts';
import { subgraph } from '../src/subgraph.ts';

describeEntityContract('integrations', {
  start: (env) => subgraph.start(env),
  entities: {
    Integration: {
      selection: 'provider status hookTargetUrl connectedAt',
      create: (em, tenantId, count) =>
        Array.from(
          { length: count },
          (_, index) =>
            em.create(Integration, {
              tenantId,
              connectedBy: tenantId,
              provider: 'ZAPIER',
              status: 'CONNECTED',
              scopes: [],
              hookTargetUrl: `https://hooks.zapier.com/hooks/catch/${index}/abc/`,
            }).id,
        ),
    },
  },
});
