import type { SubgraphContext } from '@nexusflow/kit';
import type { BillingLoaders } from './loaders.ts';
import type { BillingServices } from './services.ts';

export type { BillingServices };

export type BillingContext = SubgraphContext<BillingLoaders, BillingServices>;
