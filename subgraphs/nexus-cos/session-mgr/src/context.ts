import type { SubgraphContext } from '@nexusflow/kit';
import type { SessionService } from './domain/session-service.ts';
import type { SessionMgrLoaders } from './loaders.ts';

export interface SessionMgrServices {
  sessions: SessionService;
}

export type SessionMgrContext = SubgraphContext<SessionMgrLoaders, SessionMgrServices>;
