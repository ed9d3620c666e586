import type { SubgraphContext } from '@nexusflow/kit';
import type { BillingServiceLoaders } from './loaders.ts';
import type { createServices } from './services.ts';

export type BillingServiceServices = ReturnType<typeof createServices>;

export type BillingServiceContext = SubgraphContext<BillingServiceLoaders, BillingServiceServices>;
