import { LRUCache } from 'lru-cache';
import { callSubgraph, SubgraphRequestError, type Identity, type Logger } from '@nexusflow/kit';
import { TenantPlanDocument } from '../__generated__/auth-operations.ts';
import { ModelCatalogue, type AiTask, type ModelDefinition, type ProviderName } from './catalogue.ts';

/** The auth subgraph's Tenant.plan. */
export const PLANS = ['FREE', 'TEAM', 'ENTERPRISE'] as const;
export type Plan = (typeof PLANS)[number];

export type Routes = Partial<Record<AiTask, readonly string[]>>;
export type PlanRoutes = Partial<Record<Plan, Routes>>;

type Caller = Extract<Identity, { kind: 'user' }>;

/** A plan looked up, or null when auth could not say: kept for less time, so that its answer is asked again soon. */
interface KnownPlan {
  plan: Plan | null;
}

const UNKNOWN_PLAN_TTL_MS = 5_000;
/** A request waits at most this long for its tenant's plan before the default routes answer it. */
const LOOKUP_TIMEOUT_MS = 2_000;

export interface TenantPlansOptions {
  /** The auth subgraph's GraphQL endpoint. */
  authUrl: string;
  internalSecret: string;
  ttlSeconds: number;
  logger: Logger;
  now: () => number;
}

/**
 * Each tenant's plan as the auth subgraph knows it, remembered for a short while: a plan changes rarely, and asking at
 * every request would put auth on the path of every completion. Concurrent requests of one tenant share one lookup.
 */
export class TenantPlans {
  private readonly known: LRUCache<string, KnownPlan, Caller>;

  constructor(private readonly options: TenantPlansOptions) {
    this.known = new LRUCache<string, KnownPlan, Caller>({
      max: 10_000,
      ttl: options.ttlSeconds * 1000,
      perf: { now: options.now },
      fetchMethod: (_tenantId, _stale, { context, options: entry }) => this.lookUp(context, entry),
    });
  }

  /** The caller's tenant's plan; null when auth cannot be asked right now (logged). */
  async planOf(caller: Caller): Promise<Plan | null> {
    const known = await this.known.fetch(caller.tenantId, { context: caller });
    return known?.plan ?? null;
  }

  private async lookUp(caller: Caller, entry: { ttl?: number }): Promise<KnownPlan> {
    try {
      const data = await callSubgraph({
        url: this.options.authUrl,
        internalSecret: this.options.internalSecret,
        identity: caller,
        query: TenantPlanDocument,
        timeoutMs: LOOKUP_TIMEOUT_MS,
      });
      if (data.callerTenant) return { plan: data.callerTenant.plan };
      this.options.logger.warn({ tenantId: caller.tenantId }, 'auth knows no tenant of this id; routing it by the default routes');
    } catch (error) {
      if (!(error instanceof SubgraphRequestError)) throw error;
      this.options.logger.warn(
        { err: error, code: error.code, tenantId: caller.tenantId },
        "could not ask auth for the tenant's plan; routing by the default routes",
      );
    }
    entry.ttl = Math.min(UNKNOWN_PLAN_TTL_MS, this.options.ttlSeconds * 1000);
    return { plan: null };
  }
}

/**
 * The models a tenant's requests go to: its plan's routes (AI_PLAN_ROUTES) where they name the task, AI_ROUTES and the
 * built-in routes otherwise. Without plan routes, no plan is ever asked for. A tenant whose plan cannot be learnt gets
 * the default routes: an auth outage must neither stop completions nor move a paying tenant to the free plan's models.
 */
export class PlanRouting {
  constructor(
    private readonly catalogue: ModelCatalogue,
    private readonly byPlan: ReadonlyMap<Plan, ModelCatalogue>,
    private readonly plans: TenantPlans | undefined,
  ) {}

  static create(options: {
    configured: ReadonlySet<ProviderName>;
    extraModels: readonly ModelDefinition[];
    routes: Routes;
    planRoutes: PlanRoutes;
    catalogue: ModelCatalogue;
    plans: () => TenantPlans;
  }): PlanRouting {
    const byPlan = new Map<Plan, ModelCatalogue>();
    for (const plan of PLANS) {
      const routes = options.planRoutes[plan];
      if (!routes) continue;
      // Each plan's routes are checked against the catalogue at start, like AI_ROUTES.
      try {
        byPlan.set(plan, new ModelCatalogue(options.configured, options.extraModels, { ...options.routes, ...routes }));
      } catch (error) {
        throw new Error(`AI_PLAN_ROUTES ${plan}: ${(error as Error).message}`, { cause: error });
      }
    }
    return new PlanRouting(options.catalogue, byPlan, byPlan.size > 0 ? options.plans() : undefined);
  }

  /** The catalogue whose routes answer the caller's tenant. */
  async catalogueFor(caller: Caller): Promise<ModelCatalogue> {
    if (!this.plans) return this.catalogue;
    const plan = await this.plans.planOf(caller);
    return (plan && this.byPlan.get(plan)) ?? this.catalogue;
  }
}
