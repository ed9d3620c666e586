import { randomUUID } from 'node:crypto';
import { describeEntityContract } from '@nexusflow/kit/testing';
import { ContentVersion } from '../src/entities/content-version.entity.ts';
import { Content } from '../src/entities/content.entity.ts';
import { subgraph } from '../src/subgraph.ts';

describeEntityContract('content-management', {
  start: (env) => subgraph.start(env),
  entities: {
    Content: {
      selection: 'status currentVersion { number title } versions { number } rightsWindows { regions } createdAt',
      create: (em, tenantId, count) =>
        Array.from({ length: count }, (_, index) => {
          const content = em.create(Content, {
            tenantId,
            creatorId: randomUUID(),
            status: 'DRAFT',
            currentVersionNumber: 1,
            updatedAt: new Date(),
          });
          em.create(ContentVersion, {
            tenantId,
            contentId: content.id,
            number: 1,
            title: `Content ${index}`,
            tags: [],
            language: 'en',
            createdBy: content.creatorId,
          });
          return content.id;
        }),
    },
  },
});
