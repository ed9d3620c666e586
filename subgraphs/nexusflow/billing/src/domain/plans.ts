import { systemFork, type Database, type EntityManager } from '@nexusflow/kit';
import { Plan } from '../entities/plan.entity.ts';

export const PLAN_TIERS = ['FREE', 'STARTER', 'PRO', 'ENTERPRISE'] as const;
export type PlanTier = (typeof PLAN_TIERS)[number];
export type PaidTier = Exclude<PlanTier, 'FREE'>;

export const isPlanTier = (value: string): value is PlanTier => (PLAN_TIERS as readonly string[]).includes(value);

/** What a plan allows per calendar month; null is unlimited. */
export interface Limits {
  executionsPerMonth: number | null;
  aiTokensPerMonth: number | null;
  seats: number | null;
  integrations: number | null;
}

interface PlanDefinition {
  name: string;
  monthlyPriceCents: number;
  limits: Limits;
}

/** The catalogue's prices and limits; only the Stripe price of each paid plan is the deployment's (config). */
const CATALOGUE: Record<PlanTier, PlanDefinition> = {
  FREE: { name: 'Free', monthlyPriceCents: 0, limits: { executionsPerMonth: 1_000, aiTokensPerMonth: 100_000, seats: 3, integrations: 2 } },
  STARTER: {
    name: 'Starter',
    monthlyPriceCents: 2_900,
    limits: { executionsPerMonth: 10_000, aiTokensPerMonth: 1_000_000, seats: 10, integrations: 5 },
  },
  PRO: {
    name: 'Pro',
    monthlyPriceCents: 9_900,
    limits: { executionsPerMonth: 100_000, aiTokensPerMonth: 10_000_000, seats: 50, integrations: 20 },
  },
  ENTERPRISE: {
    name: 'Enterprise',
    monthlyPriceCents: 49_900,
    limits: { executionsPerMonth: null, aiTokensPerMonth: null, seats: null, integrations: null },
  },
};

export const limitsOf = (plan: Plan): Limits => ({
  executionsPerMonth: plan.executionsPerMonth ?? null,
  aiTokensPerMonth: plan.aiTokensPerMonth ?? null,
  seats: plan.seats ?? null,
  integrations: plan.integrations ?? null,
});

export const FREE_LIMITS: Limits = CATALOGUE.FREE.limits;

/**
 * The plans as rows, written by the seeder before the first read of each process: the catalogue above with the
 * deployment's Stripe prices, so that a changed price or limit reaches the table on the next start.
 */
export class PlanCatalogue {
  private seeded: Promise<void> | undefined;

  constructor(
    private readonly database: Database,
    private readonly prices: Record<PaidTier, string | undefined>,
  ) {}

  /** Writes every plan of the catalogue; repeated, it changes only what differs. */
  async seed(): Promise<void> {
    const em = systemFork(this.database);
    await em.upsertMany(
      Plan,
      PLAN_TIERS.map((tier, position) => {
        const { name, monthlyPriceCents, limits } = CATALOGUE[tier];
        return {
          tier,
          name,
          position,
          monthlyPriceCents,
          currency: 'usd',
          stripePriceId: tier === 'FREE' ? null : (this.prices[tier] ?? null),
          ...limits,
        };
      }),
    );
  }

  private ready(): Promise<void> {
    this.seeded ??= this.seed().catch((error: unknown) => {
      this.seeded = undefined;
      throw error;
    });
    return this.seeded;
  }

  async all(em: EntityManager): Promise<Plan[]> {
    await this.ready();
    return em.find(Plan, {}, { orderBy: { position: 'asc' } });
  }

  async find(em: EntityManager, id: string): Promise<Plan | null> {
    if (!isPlanTier(id)) return null;
    await this.ready();
    return em.findOne(Plan, { tier: id });
  }

  /** The plan whose Stripe price this is, e.g. after a change made in Stripe's dashboard. */
  async findByPrice(em: EntityManager, priceId: string): Promise<Plan | null> {
    await this.ready();
    return em.findOne(Plan, { stripePriceId: priceId });
  }
}
