import { describeEntityContract } from '@nexusflow/kit/testing';
import { Content } from '../src/entities/content.entity.ts';
import { subgraph } from '../src/subgraph.ts';

describeEntityContract('content-management', {
  start: (env) => subgraph.start(env),
  entities: {
    Content: {
      selection: 'name createdAt',
      create: (em, tenantId, count) =>
        Array.from({ length: count }, (_, index) => em.create(Content, { tenantId, createdBy: tenantId, name: `Content ${index}` }).id),
    },
  },
});
