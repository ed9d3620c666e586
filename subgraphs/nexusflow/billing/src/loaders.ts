import type { EntityManager } from '@nexusflow/kit';
import DataLoader from 'dataloader';
import { BillingCustomer } from './entities/billing-customer.entity.ts';
import { Plan } from './entities/plan.entity.ts';

/** Every query runs in the request's unit of work, which sees the caller's tenant only (the kit's tenant filter). */
export function createLoaders(em: EntityManager) {
  return {
    planByTier: new DataLoader<string, Plan | null>(async (tiers) => {
      const plans = await em.find(Plan, { tier: { $in: [...tiers] } });
      return tiers.map((tier) => plans.find((plan) => plan.tier === tier) ?? null);
    }),
    /** The tenant's one customer row, or null: the same for every key, the tenant's id. */
    customerOfTenant: new DataLoader<string, BillingCustomer | null>(async (tenantIds) => {
      const customers = await em.find(BillingCustomer, { tenantId: { $in: [...tenantIds] } });
      return tenantIds.map((tenantId) => customers.find((customer) => customer.tenantId === tenantId) ?? null);
    }),
  };
}

export type BillingLoaders = ReturnType<typeof createLoaders>;
