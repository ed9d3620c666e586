import type { SubgraphContext } from '@nexusflow/kit';
import type { ExpiringStore } from './domain/live-sessions.ts';
import type { SessionLifecycle } from './domain/sessions.ts';
import type { SessionMgrLoaders } from './loaders.ts';

export interface SessionMgrServices {
  store: ExpiringStore;
  sessions: SessionLifecycle;
}

export type SessionMgrContext = SubgraphContext<SessionMgrLoaders, SessionMgrServices>;
