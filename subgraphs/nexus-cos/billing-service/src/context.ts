import type { SubgraphContext } from '@nexusflow/kit';
import type { PaymentService } from './domain/payment-service.ts';
import type { BillingServiceLoaders } from './loaders.ts';

export interface BillingServiceServices {
  payments: PaymentService;
}

export type BillingServiceContext = SubgraphContext<BillingServiceLoaders, BillingServiceServices>;
