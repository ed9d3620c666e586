import type { SubgraphContext } from '@nexusflow/kit';
import type { IntegrationsLoaders } from './loaders.ts';
import type { IntegrationServices } from './services.ts';

export type IntegrationsServices = IntegrationServices;

export type IntegrationsContext = SubgraphContext<IntegrationsLoaders, IntegrationsServices>;
