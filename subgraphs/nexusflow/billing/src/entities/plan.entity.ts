import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * One plan of the catalogue every tenant chooses from: the same for all tenants, so it has no tenant filter. The rows
 * are written by the catalogue's seeder at start (see domain/plans.ts); null limits are unlimited.
 */
export const PlanSchema = defineEntity({
  name: 'Plan',
  tableName: 'plans',
  properties: {
    tier: p.string().primary(),
    name: p.string(),
    /** Orders the catalogue from the cheapest plan. */
    position: p.integer(),
    monthlyPriceCents: p.integer(),
    currency: p.string(),
    /** The plan's monthly price in Stripe; null for the free plan, and for a paid plan the deployment has not priced. */
    stripePriceId: p.string().nullable(),
    executionsPerMonth: p.integer().nullable(),
    aiTokensPerMonth: p.bigint('number').nullable(),
    seats: p.integer().nullable(),
    integrations: p.integer().nullable(),
  },
});

export class Plan extends PlanSchema.class {}
PlanSchema.setClass(Plan);
