import { describeEntityContract } from '@nexusflow/kit/testing';
import { StreamAsset } from '../src/entities/stream-asset.entity.ts';
import { subgraph } from '../src/subgraph.ts';

describeEntityContract('streamcore', {
  start: (env) => subgraph.start(env),
  entities: {
    StreamAsset: {
      selection: 'name createdAt',
      create: (em, tenantId, count) =>
        Array.from(
          { length: count },
          (_, index) => em.create(StreamAsset, { tenantId, createdBy: tenantId, name: `StreamAsset ${index}` }).id,
        ),
    },
  },
});
