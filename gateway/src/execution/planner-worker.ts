/**
 * A worker thread that plans operations with Apollo's query planner. Planning is synchronous and, for some
 * documents, slow or memory-hungry; here it runs beside the gateway's event loop instead of on it, under a heap
 * limit of its own, so that the worst document costs one worker (replaced) and never the gateway.
 *
 * Runs as plain Node (type stripping) as well as under tsx, so it imports only packages, never the kit.
 */
import { parentPort } from 'node:worker_threads';
import { operationFromDocument, Supergraph, type SelectionSet } from '@apollo/federation-internals';
import { QueryPlanner, type QueryPlan } from '@apollo/query-planner';
import { parse } from 'graphql';
import type { PlannerRequest, PlannerResponse } from './planner-protocol.ts';

interface LoadedPlanner {
  generation: number;
  planner: QueryPlanner;
  supergraph: Supergraph;
}

/**
 * The supergraphs the gateway may still plan on, newest first: the current one, the one before it, and any older one
 * an operation waiting to be planned was validated against. The gateway says when one can go.
 */
const loaded: LoadedPlanner[] = [];

function reply(response: PlannerResponse): void {
  parentPort!.postMessage(response);
}

function plan(request: Extract<PlannerRequest, { type: 'plan' }>): QueryPlan {
  const target = loaded.find((candidate) => candidate.generation === request.generation);
  if (!target) throw new Error(`supergraph generation ${request.generation} is not loaded`);
  const operation = operationFromDocument(target.supergraph.apiSchema(), parse(request.source), { operationName: request.operationName });
  const queryPlan = target.planner.buildQueryPlan(operation, request.options);
  if (!queryPlan.node) {
    const unreachable = fieldsNeedingSubgraphs(operation.selectionSet);
    // Stock plans a field that no subgraph can answer (say, an interface whose only implementation is a
    // non-resolvable @interfaceObject elsewhere) as nothing at all, and answers null without a word.
    if (unreachable.length > 0) {
      throw new Error(`no subgraph can resolve ${unreachable.map((name) => `"${name}"`).join(', ')} for any type it may return`);
    }
  }
  return queryPlan;
}

/** Root fields that only a subgraph can answer: all but __typename and introspection, unless @skip/@include may drop them. */
function fieldsNeedingSubgraphs(selectionSet: SelectionSet): string[] {
  return selectionSet.selections().flatMap((selection) => {
    if (selection.kind === 'FragmentSelection') return fieldsNeedingSubgraphs(selection.selectionSet);
    const field = selection.element;
    const conditional = field.appliedDirectives.some((directive) => directive.name === 'skip' || directive.name === 'include');
    return conditional || field.name.startsWith('__') ? [] : [field.responseName()];
  });
}

parentPort!.on('message', (request: PlannerRequest) => {
  if (request.type === 'load') {
    // The gateway validated this supergraph before sending it; validating again would only double the start-up time.
    const supergraph = Supergraph.build(request.supergraphSdl, {
      // The gateway loaded this supergraph before sending it here, its linked features checked (execution/supergraph.ts).
      supportedFeatures: null,
      validateSupergraph: false,
    });
    loaded.unshift({ generation: request.generation, supergraph, planner: new QueryPlanner(supergraph, request.plannerConfig) });
    reply({ loaded: request.generation });
    return;
  }
  if (request.type === 'unload') {
    const index = loaded.findIndex((candidate) => candidate.generation === request.generation);
    if (index >= 0) loaded.splice(index, 1);
    return;
  }
  try {
    reply({ id: request.id, plan: plan(request) });
  } catch (error) {
    reply({ id: request.id, error: error instanceof Error ? error.message : String(error) });
  }
});
