import { describeEntityContract } from '@nexusflow/kit/testing';
import { TenantKey } from '../src/entities/tenant-key.entity.ts';
import { subgraph } from '../src/subgraph.ts';

describeEntityContract('key-service', {
  start: (env) => subgraph.start(env),
  entities: {
    TenantKey: {
      selection: 'name createdAt',
      create: (em, tenantId, count) =>
        Array.from({ length: count }, (_, index) => em.create(TenantKey, { tenantId, createdBy: tenantId, name: `TenantKey ${index}` }).id),
    },
  },
});
