import { randomUUID } from 'node:crypto';
import { describeEntityContract } from '@nexusflow/kit/testing';
import { MediaAsset } from '../src/entities/media-asset.entity.ts';
import { subgraph } from '../src/subgraph.ts';

describeEntityContract('streamcore', {
  start: (env) => subgraph.start(env),
  env: { PLAYBACK_SWEEP_INTERVAL_MS: '0' },
  entities: {
    Content: {
      selection: 'renditions { label } viewCount',
      create: (em, tenantId, count) =>
        Array.from({ length: count }, () => em.create(MediaAsset, { tenantId, contentId: randomUUID() }).contentId),
    },
  },
});
