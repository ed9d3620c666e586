import type { QueryPlan, QueryPlannerConfig } from '@apollo/query-planner';

/** Messages from the gateway to a planner worker, in the order the worker handles them. */
export type PlannerRequest =
  | { type: 'load'; generation: number; supergraphSdl: string; plannerConfig?: QueryPlannerConfig }
  /** No operation will be planned on this supergraph again: its planner can go. */
  | { type: 'unload'; generation: number }
  | {
      type: 'plan';
      id: number;
      generation: number;
      /** The document's text; it has passed the gateway's limits and validation. */
      source: string;
      operationName?: string;
      options: { recursiveSelectionsLimitDisabled: boolean; nonLocalSelectionsLimitDisabled: boolean };
    };

/** A planner worker's answer to one plan request, or its word that it has loaded a supergraph. */
export type PlannerResponse = { id: number; plan: QueryPlan } | { id: number; error: string } | { loaded: number };
