import type { SubgraphContext } from '@nexusflow/kit';
import type { LedgerMgrLoaders } from './loaders.ts';
import type { createServices } from './services.ts';

export type LedgerMgrServices = ReturnType<typeof createServices>;

export type LedgerMgrContext = SubgraphContext<LedgerMgrLoaders, LedgerMgrServices>;
