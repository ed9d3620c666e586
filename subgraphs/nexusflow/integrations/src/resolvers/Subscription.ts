import { notFound, requireUser, requireUuid, SKIP, transformIterator } from '@nexusflow/kit';
import type { SubscriptionResolvers } from '../__generated__/resolvers-types.ts';
import { CrmSyncRun } from '../entities/crm-sync-run.entity.ts';
import { progressOrder, snapshotOf, syncProgressTopic, type SyncProgressUpdate } from '../domain/sync/sync-engine.ts';

export const Subscription: SubscriptionResolvers = {
  syncProgress: {
    subscribe: async (_parent, { integrationId }, { em, identity, loaders, services }) => {
      const user = requireUser(identity);
      const integration = await loaders.integrationById.load(requireUuid(integrationId, 'integrationId'));
      if (!integration) throw notFound(`No integration ${integrationId}`);
      const { live } = services.crm;
      const topic = syncProgressTopic(integration.id);
      // Listen first, then read the latest run: a change after the read arrives as an update.
      const updates = live.subscribe<SyncProgressUpdate>(topic);
      await live.subscribed(topic).catch(() => undefined);
      const latest = await em.findOne(CrmSyncRun, { integrationId: integration.id }, { orderBy: { startedAt: 'desc', id: 'desc' } });
      let shown = latest ? { id: latest.id, order: progressOrder(latest) } : null;
      return transformIterator(
        updates,
        (update) => {
          // Only the subscriber's tenant's updates leave the subgraph, whatever the topic carries; none older than shown.
          if (update.tenantId !== user.tenantId) return SKIP;
          if (shown?.id === update.run.id && progressOrder(update.run) < shown.order) return SKIP;
          shown = { id: update.run.id, order: progressOrder(update.run) };
          return update;
        },
        { first: latest ? [{ tenantId: user.tenantId, run: snapshotOf(latest) }] : [] },
      );
    },
    resolve: (update: SyncProgressUpdate) => ({ run: update.run }),
  },
};
