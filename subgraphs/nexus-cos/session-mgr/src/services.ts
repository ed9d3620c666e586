import type { Stoppable, SubgraphRuntime } from '@nexusflow/kit';
import type { SessionMgrConfig } from './config.ts';
import type { SessionMgrServices } from './context.ts';
import { createExpiringStore } from './domain/live-sessions.ts';
import { SessionLifecycle } from './domain/sessions.ts';

export function createSessionMgrServices(runtime: SubgraphRuntime, config: SessionMgrConfig): SessionMgrServices {
  const store = createExpiringStore(
    config.subgraph.redisUrl,
    `${config.subgraph.redisNamespace}:session-mgr:`,
    runtime.logger,
    runtime.clock,
  );
  const sessions = new SessionLifecycle({
    store,
    idleMs: config.timeouts.idleMs,
    absoluteMs: config.timeouts.absoluteMs,
    tokenMgrUrl: config.tokenMgrUrl,
    internalSecret: config.subgraph.internalSecret,
    logger: runtime.logger,
    clock: runtime.clock,
  });
  return { store, sessions };
}

/** Nothing runs in the background: this closes the store's Redis connection when the service stops. */
export async function closeSessionStore(_runtime: SubgraphRuntime, services: SessionMgrServices): Promise<Stoppable> {
  return { close: () => services.store.close() };
}
