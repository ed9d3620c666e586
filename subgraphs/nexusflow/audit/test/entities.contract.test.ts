import { describeEntityContract } from '@nexusflow/kit/testing';
import { loadAuditConfig } from '../src/config.ts';
import { AuditTrail } from '../src/domain/trail.ts';
import { subgraph } from '../src/subgraph.ts';

describeEntityContract('audit', {
  start: (env) => subgraph.start(env),
  entities: {
    AuditEntry: {
      selection: 'sequence action outcome details hash',
      create: async (em, tenantId, count) => {
        const trail = new AuditTrail(loadAuditConfig({}).chainKey);
        const ids: string[] = [];
        for (let index = 0; index < count; index += 1) {
          const entry = await trail.append(em.fork(), {
            tenantId,
            eventId: null,
            occurredAt: new Date(),
            source: 'EVENT',
            actorKind: 'SYSTEM',
            actorId: null,
            action: 'workflow.created',
            resourceType: 'workflow',
            resourceId: `workflow-${index}`,
            outcome: 'SUCCESS',
            details: { index },
            ipAddress: null,
            userAgent: null,
          });
          ids.push(entry!.id);
        }
        return ids;
      },
    },
  },
});
