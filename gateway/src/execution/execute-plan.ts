import type { buildOperationContext, GraphQLDataSource } from '@apollo/gateway';
import { assert, ERRORS, errorCodeDef, type Operation } from '@apollo/federation-internals';
import { getResponseName, type FetchNode, type PlanNode, type QueryPlan, type QueryPlanSelectionNode } from '@apollo/query-planner';
import type { GatewayExecutionResult, GatewayGraphQLRequestContext } from '@apollo/server-gateway-interface';
import {
  executeSync,
  GraphQLError,
  Kind,
  OperationTypeNode,
  visit,
  type FieldNode,
  type GraphQLSchema,
  type VariableDefinitionNode,
} from 'graphql';
import { conditionHolds } from './conditions.ts';
import { batchesEntityFetches, FetchBatches, type SubgraphResponse } from './fetch-batching.ts';
import { pathsOfFetchedFields, type ResponsePath } from './fetch-paths.ts';
import { fetchesIn } from './plan-fetches.ts';
import { representationKeyReader, RepresentationKeys, type RepresentationKey } from './representation-keys.ts';
import { emptyRecord } from './response-record.ts';
import { computeResponse } from './result-shaping.ts';
import { applyRewrites, deepMerge, INCOMING_OPERATION, isObjectOfType } from './vendored/apollo-gateway.ts';

/** What @apollo/gateway's `buildOperationContext` gives: the operation, its fragments and the API schema. */
export type OperationContext = ReturnType<typeof buildOperationContext>;

/**
 * A port of @apollo/gateway's `executeQueryPlan` (2.14.4) that gives the same results, byte for byte, for
 * the same plan, without what stock spends per request around the work itself: it takes the operation
 * already converted for result shaping (stock converts the document again on every request), records no
 * OpenTelemetry spans and builds no usage-reporting trace nodes, and shapes results with a compiled shaper.
 * The data-handling helpers (deep merge, rewrites) are stock's own, copied in ./vendored/apollo-gateway.ts.
 *
 * Where it differs from stock on purpose: every error of a fetch carries a path and the subgraph's `serviceName`. A
 * fetch that fails outright (the subgraph unreachable, an HTTP error), and a subgraph error without a usable path, is
 * reported at the fields the fetch was to provide, once per entity, where stock gives no path at all.
 */

type ResultMap = Record<string, unknown>;

interface ResultCursor {
  path: ResponsePath;
  data: ResultMap | ResultMap[];
  fullResult: ResultMap;
}

interface ExecutionContext {
  operationContext: OperationContext;
  operation: Operation;
  serviceMap: Record<string, GraphQLDataSource>;
  requestContext: GatewayGraphQLRequestContext;
  supergraphSchema: GraphQLSchema;
  errors: GraphQLError[];
  /** Present when the plan holds query fetches that may be identical: how they share answers within this operation. */
  sharing?: SharedFetches;
  /** Made at the first entity fetch that may be merged with others: see fetch-batching.ts. */
  batches?: FetchBatches;
}

export interface PreparedOperation {
  queryPlan: QueryPlan;
  operationContext: OperationContext;
  /** The operation as result shaping reads it, converted once per cached plan. */
  operation: Operation;
  /** Roughly what this preparation holds in memory, for caches bounded by size. */
  approximateBytes: number;
}

const hasOwn = (value: object, key: string) => Object.prototype.hasOwnProperty.call(value, key);
const getOwn = (value: object, key: string): unknown => (hasOwn(value, key) ? (value as ResultMap)[key] : undefined);

export async function executePlan(
  prepared: PreparedOperation,
  serviceMap: Record<string, GraphQLDataSource>,
  requestContext: GatewayGraphQLRequestContext,
  supergraphSchema: GraphQLSchema,
): Promise<GatewayExecutionResult> {
  const { queryPlan, operationContext, operation } = prepared;
  const errors: GraphQLError[] = [];
  const root = queryPlan.node;
  if (root?.kind === 'Subscription') throw new Error('Execution of subscriptions not supported by gateway');
  const context: ExecutionContext = {
    operationContext,
    operation,
    serviceMap,
    requestContext,
    supergraphSchema,
    errors,
    sharing: root && sharedFetchesOf(root),
  };
  const unfilteredData: ResultMap = emptyRecord();
  if (root) await executeNode(context, root, { path: [], data: unfilteredData, fullResult: unfilteredData });

  let data: ResultMap | null | undefined;
  try {
    const variables = requestContext.request.variables;
    let postProcessingErrors: GraphQLError[];
    ({ data, errors: postProcessingErrors } = computeResponse({
      operation,
      variables,
      input: unfilteredData,
      introspectionHandling: (selection) =>
        executeIntrospection(
          operationContext.schema,
          selection.expandFragments().toSelectionNode(),
          operationContext.operation.variableDefinitions,
          variables,
        ),
    }));
    if (errors.length === 0 && postProcessingErrors.length > 0) return { extensions: { valueCompletion: postProcessingErrors }, data };
  } catch (error) {
    if (error instanceof GraphQLError) return { errors: [error] };
    if (error instanceof Error) return { errors: [new GraphQLError(error.message, { originalError: error })] };
    requestContext.logger.error(`Unexpected error during query plan execution: ${String(error)}`);
    return { errors: [new GraphQLError('Unexpected error during query plan execution')] };
  }
  return errors.length === 0 ? { data } : { errors, data };
}

async function executeNode(context: ExecutionContext, node: PlanNode, cursor: ResultCursor | undefined): Promise<void> {
  if (!cursor) return;
  switch (node.kind) {
    case 'Sequence':
      for (const child of node.nodes) await executeNode(context, child, cursor);
      return;
    case 'Parallel':
      await Promise.all(node.nodes.map((child) => executeNode(context, child, cursor)));
      return;
    case 'Flatten':
      await executeNode(context, node.node, moveIntoCursor(cursor, node.path));
      return;
    case 'Fetch':
      try {
        await executeFetch(context, node, cursor);
      } catch (error) {
        context.errors.push(...failedFetchErrors(context, node, cursor, error));
      }
      return;
    case 'Condition': {
      const condition = conditionHolds(node, context.operation.variableDefinitions, context.requestContext.request.variables);
      const branch = condition ? node.ifClause : node.elseClause;
      if (branch) await executeNode(context, branch, cursor);
      return;
    }
    case 'Defer':
      // Answered all at once (the client takes no incremental delivery; defer.ts streams for those that do).
      if (node.primary.node) await executeNode(context, node.primary.node, cursor);
      await Promise.all(node.deferred.map(async (deferred) => deferred.node && executeNode(context, deferred.node, cursor)));
  }
}

/** Runs one node of a plan into `data`, the response's root, its errors into `errors`: how defer.ts runs @defer's blocks. */
export function executePlanNode(
  prepared: PreparedOperation,
  serviceMap: Record<string, GraphQLDataSource>,
  requestContext: GatewayGraphQLRequestContext,
  supergraphSchema: GraphQLSchema,
  node: PlanNode,
  data: ResultMap,
  errors: GraphQLError[],
): Promise<void> {
  const { operationContext, operation } = prepared;
  const sharing = sharedFetchesOf(node);
  const context: ExecutionContext = { operationContext, operation, serviceMap, requestContext, supergraphSchema, errors, sharing };
  return executeNode(context, node, { path: [], data, fullResult: data });
}

async function executeFetch(context: ExecutionContext, fetch: FetchNode, cursor: ResultCursor): Promise<void> {
  const service = context.serviceMap[fetch.serviceName];
  if (!service) throw new Error(`Couldn't find service with name "${fetch.serviceName}"`);
  const twins = context.sharing?.groupOf.get(fetch);
  if (twins) context.sharing!.notStarted.set(twins, (context.sharing!.notStarted.get(twins) ?? twins.size) - 1);
  const entities: ResultMap[] = Array.isArray(cursor.data)
    ? cursor.data.filter((entity) => entity !== null && entity !== undefined)
    : [cursor.data];
  if (entities.length < 1) return;

  const variables: ResultMap = emptyRecord();
  const provided = context.requestContext.request.variables;
  for (const name of fetch.variableUsages ?? []) {
    if (provided && hasOwn(provided, name) && typeof provided[name] !== 'undefined') variables[name] = provided[name];
  }

  const sendAlone = (fetchVariables: ResultMap) =>
    service.process({
      kind: INCOMING_OPERATION,
      request: { query: fetch.operation, variables: fetchVariables, operationName: fetch.operationName },
      incomingRequestContext: context.requestContext,
      context: context.requestContext.context,
      document: fetch.operationDocumentNode,
      pathInIncomingRequest: cursor.path,
    });
  const send =
    batchesEntityFetches(service) && FetchBatches.mayJoin(fetch)
      ? (fetchVariables: ResultMap) => batchesOf(context).fetch(fetch, fetchVariables, sendAlone)
      : sendAlone;
  const request = twins ? (fetchVariables: ResultMap) => sharedRequest(context.sharing!, twins, fetchVariables, send) : send;
  const sendOperation = async (fetchVariables: ResultMap): Promise<ResultMap | null | undefined> => {
    const response = await request(fetchVariables);
    if (response.errors) {
      const errorPath = lazyErrorPathGenerator(fetch, cursor);
      for (const error of response.errors) {
        const path = errorPath(error.path);
        if (path) context.errors.push(downstreamServiceError(error, fetch.serviceName, path));
        else context.errors.push(...atFetchedFields(context, fetch, cursor, error));
      }
      if (!response.extensions?.ftv1) {
        const metrics = context.requestContext.metrics as { nonFtv1ErrorPaths?: { subgraph: string; path: unknown }[] } | undefined;
        const errorPaths = response.errors.map((error) => ({ subgraph: fetch.serviceName, path: error.path }));
        if (metrics) {
          if (metrics.nonFtv1ErrorPaths) metrics.nonFtv1ErrorPaths.push(...errorPaths);
          else metrics.nonFtv1ErrorPaths = errorPaths;
        }
      }
    }
    return response.data as ResultMap | null | undefined;
  };

  if (!fetch.requires) {
    const received = await sendOperation(variables);
    if (received) applyRewrites(context.supergraphSchema, fetch.outputRewrites, received);
    for (const entity of entities) deepMerge(entity, received);
    return;
  }

  const distinct = await fetchDistinctEntities(context, fetch, variables, entities, request);
  if (distinct === true) return;
  const representations: ResultMap[] = [];
  const representationToEntity: number[] = [];
  if (distinct) {
    // One representation per entity, in order: those already made for asking for distinct ones.
    for (let i = 0; i < distinct.length; i++) {
      representations.push(distinct[i]!);
      representationToEntity.push(i);
    }
  } else
    entities.forEach((entity, index) => {
      const representation = executeSelectionSet(context.supergraphSchema, entity, fetch.requires!);
      if (representation && representation.__typename) {
        applyRewrites(context.supergraphSchema, fetch.inputRewrites, representation);
        representations.push(representation);
        representationToEntity.push(index);
      }
    });
  if (representations.length < 1) return;
  if ('representations' in variables) throw new Error('Variables cannot contain key "representations"');
  const received = await sendOperation({ ...variables, representations });
  if (!received) return;
  if (!(received._entities && Array.isArray(received._entities))) throw new Error('Expected "data._entities" in response to be an array');
  const receivedEntities = received._entities as (ResultMap | null)[];
  if (receivedEntities.length !== representations.length)
    throw new Error(`Expected "data._entities" to contain ${representations.length} elements`);
  // Stock loops over every entity here, reading past the received ones as undefined; the same loop keeps its results.
  for (let i = 0; i < entities.length; i++) {
    const receivedEntity = receivedEntities[i];
    const existingEntity = entities[representationToEntity[i]!];
    if (receivedEntity && !receivedEntity.__typename) receivedEntity.__typename = existingEntity!.__typename;
    applyRewrites(context.supergraphSchema, fetch.outputRewrites, receivedEntity as ResultMap);
    deepMerge(entities[representationToEntity[i]!], receivedEntity);
  }
}

function batchesOf(context: ExecutionContext): FetchBatches {
  context.batches ??= new FetchBatches(
    (serviceName) => (merged) =>
      context.serviceMap[serviceName]!.process({
        kind: INCOMING_OPERATION,
        request: { query: merged.query, variables: merged.variables, operationName: merged.operationName },
        incomingRequestContext: context.requestContext,
        context: context.requestContext.context,
        pathInIncomingRequest: [],
      }),
  );
  return context.batches;
}

/**
 * Asks the subgraph once per distinct representation, where stock sends one per occurrence: in a nested list the
 * same product or author recurs dozens of times, and each copy costs serialising, the subgraph's work, parsing and
 * merging. Every occurrence then merges the one answer for its representation, which gives the same result as
 * merging equal copies. An occurrence that is the very object of an earlier one (lists merged from one earlier
 * answer share their objects) is read and merged once: merging the same answer into the same object again changes
 * nothing. Whenever the answer is not a clean list of entities (errors, a wrong length, no data), when some entity
 * has no representation, or when no two occurrences share one, it returns having merged nothing, and the fetch runs
 * exactly as stock runs it, so errors and their paths stay the same: true when it merged the answer; when no two
 * occurrences share a representation and every entity is its own, the representations made, one per entity, in order.
 */
async function fetchDistinctEntities(
  context: ExecutionContext,
  fetch: FetchNode,
  variables: ResultMap,
  entities: ResultMap[],
  request: (variables: ResultMap) => ReturnType<GraphQLDataSource['process']>,
): Promise<boolean | ResultMap[]> {
  if ('representations' in variables) return false;
  const schema = context.supergraphSchema;
  const keys = new RepresentationKeys();
  const distinctIndex = new Map<RepresentationKey, number>();
  const indexOfEntity = new Map<ResultMap, number>();
  const distinct: ResultMap[] = [];
  /** Each distinct entity object, and the index of its representation in `distinct`. */
  const targets: ResultMap[] = [];
  const targetIndex: number[] = [];
  const readKey = representationKeyReader(schema, fetch);
  for (let i = 0; i < entities.length; i++) {
    const entity = entities[i]!;
    if (indexOfEntity.has(entity)) continue;
    // Most occurrences repeat an entity already seen: their key is read without building their representation.
    let key = readKey?.(entity, keys);
    let representation: ResultMap | null | undefined;
    if (key === undefined) {
      representation = executeSelectionSet(schema, entity, fetch.requires!);
      if (!representation || !representation.__typename) return false;
      applyRewrites(schema, fetch.inputRewrites, representation);
      key = keys.of(representation);
    }
    let index = distinctIndex.get(key);
    if (index === undefined) {
      representation ??= executeSelectionSet(schema, entity, fetch.requires!)!;
      index = distinct.length;
      distinctIndex.set(key, index);
      distinct.push(representation);
    }
    indexOfEntity.set(entity, index);
    targets.push(entity);
    targetIndex.push(index);
  }
  if (distinct.length === entities.length) return targets.length === entities.length ? distinct : false;
  const response = await request({ ...variables, representations: distinct });
  const received = (response.data as ResultMap | null | undefined)?._entities;
  if (response.errors || !Array.isArray(received) || received.length !== distinct.length) return false;
  const prepared = new Array<boolean>(distinct.length).fill(false);
  for (let i = 0; i < targets.length; i++) {
    const index = targetIndex[i]!;
    const receivedEntity = received[index] as ResultMap | null;
    if (!prepared[index]) {
      prepared[index] = true;
      if (receivedEntity && !receivedEntity.__typename) receivedEntity.__typename = targets[i]!.__typename;
      applyRewrites(schema, fetch.outputRewrites, receivedEntity as ResultMap);
    }
    deepMerge(targets[i], receivedEntity);
  }
  return true;
}

/** Query fetches of one plan with the same subgraph and operation (but for its name): those that may send identical requests. */
interface TwinFetches {
  id: number;
  size: number;
}

interface SharedAnswer {
  response: Promise<SubgraphResponse>;
  /** Requests waiting for this answer: each but the last takes a copy, since every one merges and rewrites its own. */
  waiting: number;
}

interface SharedFetches {
  groupOf: Map<FetchNode, TwinFetches>;
  /** Per group, how many of its fetches have yet to start: while one may, the answer is kept as received. */
  notStarted: Map<TwinFetches, number>;
  answers: Map<string, SharedAnswer>;
}

const twinFetchesOfPlan = new WeakMap<PlanNode, Map<FetchNode, TwinFetches> | null>();

/**
 * The per-operation state for sharing identical fetches, or undefined when the plan has no two query fetches with
 * the same subgraph and operation, or holds a mutation: a query repeated after a mutation may rightly see other data.
 */
function sharedFetchesOf(root: PlanNode): SharedFetches | undefined {
  let groupOf = twinFetchesOfPlan.get(root);
  if (groupOf === undefined) {
    groupOf = twinFetchesIn(root);
    twinFetchesOfPlan.set(root, groupOf);
  }
  return groupOf ? { groupOf, notStarted: new Map(), answers: new Map() } : undefined;
}

function twinFetchesIn(root: PlanNode): Map<FetchNode, TwinFetches> | null {
  const fetches = fetchesIn(root);
  if (!fetches || fetches.some((fetch) => fetch.operationKind !== OperationTypeNode.QUERY)) return null;
  const byText = new Map<string, FetchNode[]>();
  for (const fetch of fetches) {
    const text = `${fetch.serviceName}\n${withoutOperationName(fetch)}`;
    const same = byText.get(text);
    if (same) same.push(fetch);
    else byText.set(text, [fetch]);
  }
  const groupOf = new Map<FetchNode, TwinFetches>();
  let id = 0;
  for (const same of byText.values()) {
    if (same.length < 2) continue;
    const group = { id: id++, size: same.length };
    for (const fetch of same) groupOf.set(fetch, group);
  }
  return groupOf.size > 0 ? groupOf : null;
}

/**
 * The fetch's operation without the name the planner gives each fetch (`Query__products__2`): a name changes
 * nothing in the answer, and fetches that differ only in it are identical requests.
 */
function withoutOperationName(fetch: FetchNode): string {
  const { operation, operationName } = fetch;
  const prefix = `query ${operationName ?? ''}`;
  if (!operationName || !operation.startsWith(prefix) || !'({ '.includes(operation.charAt(prefix.length))) return operation;
  return `query${operation.slice(prefix.length)}`;
}

/**
 * Sends a twin fetch's request once per operation: a fetch with the same subgraph, operation (but for its name) and
 * variables (representations included) as one another fetch of this operation has sent takes that answer, as stock would have
 * received it again. Each taker rewrites and merges the answer into its own part of the response, so each gets its
 * own copy; the last possible taker gets the answer itself, and the answer is then forgotten. A failed request is
 * forgotten at once, so that a later fetch asks again, as stock would.
 */
async function sharedRequest(
  sharing: SharedFetches,
  twins: TwinFetches,
  variables: ResultMap,
  send: (variables: ResultMap) => Promise<SubgraphResponse>,
): Promise<SubgraphResponse> {
  const key = `${twins.id}\n${JSON.stringify(variables)}`;
  let shared = sharing.answers.get(key);
  if (shared) shared.waiting++;
  else {
    shared = { response: send(variables), waiting: 1 };
    sharing.answers.set(key, shared);
  }
  let response: SubgraphResponse;
  try {
    response = await shared.response;
  } catch (error) {
    if (sharing.answers.get(key) === shared) sharing.answers.delete(key);
    throw error;
  }
  shared.waiting--;
  if (shared.waiting === 0 && sharing.notStarted.get(twins) === 0) {
    sharing.answers.delete(key);
    return response;
  }
  return copyOfResponse(response);
}

function copyOfResponse(response: SubgraphResponse): SubgraphResponse {
  const copy = { ...response };
  if (response.data !== undefined) copy.data = copyOfJson(response.data) as SubgraphResponse['data'];
  if (response.errors) copy.errors = copyOfJson(response.errors) as SubgraphResponse['errors'];
  return copy;
}

/** A deep copy of a parsed JSON value, much cheaper than parsing it again. */
function copyOfJson(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    const copy = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) copy[i] = copyOfJson(value[i]);
    return copy;
  }
  const copy: ResultMap = {};
  for (const key of Object.keys(value)) {
    const element = copyOfJson((value as ResultMap)[key]);
    // JSON.parse makes "__proto__" an own property; plain assignment would set the prototype instead.
    if (key === '__proto__') Object.defineProperty(copy, key, { value: element, enumerable: true, writable: true, configurable: true });
    else copy[key] = element;
  }
  return copy;
}

/**
 * Where a subgraph's error belongs in the client's response, as stock computes it; undefined where stock would give
 * no path, or a path of the subgraph's own operation (`_entities` without an index), rather than one of the client's.
 */
function lazyErrorPathGenerator(
  fetch: FetchNode,
  cursor: ResultCursor,
): (path: readonly (string | number)[] | undefined) => ResponsePath | undefined {
  let hydratedPaths: ResponsePath[] | undefined;
  return (errorPath) => {
    if (fetch.requires && typeof errorPath?.[1] === 'number') {
      if (!hydratedPaths) {
        hydratedPaths = [];
        generateHydratedPaths([], cursor.path, cursor.fullResult, hydratedPaths);
      }
      return [...(hydratedPaths[errorPath[1]] ?? []), ...errorPath.slice(2)];
    }
    if (fetch.requires) return undefined;
    return errorPath ? [...cursor.path, ...errorPath.slice()] : undefined;
  };
}

/** A fetch that threw (the subgraph unreachable, an HTTP error, an answer that is not a GraphQL response): its errors. */
function failedFetchErrors(context: ExecutionContext, fetch: FetchNode, cursor: ResultCursor, error: unknown): GraphQLError[] {
  const failure = error instanceof Error ? error : new Error(String(error));
  const extensions = failure instanceof GraphQLError ? failure.extensions : undefined;
  return atFetchedFields(context, fetch, cursor, {
    message: failure.message,
    ...(extensions ? { extensions } : {}),
    originalError: failure,
  });
}

/**
 * One error per field the fetch was to provide (per entity), each with its path; a fetch whose fields cannot be
 * located (none of its entities were in the response) gives one error at the fetch's own path, if that is concrete.
 */
function atFetchedFields(
  context: ExecutionContext,
  fetch: FetchNode,
  cursor: ResultCursor,
  error: { message?: string; extensions?: Record<string, unknown>; originalError?: Error },
): GraphQLError[] {
  const paths = pathsOfFetchedFields(context.supergraphSchema, fetch, cursor.path, cursor.fullResult);
  if (paths.length === 0) {
    const concrete = cursor.path.length > 0 && !cursor.path.includes('@') ? cursor.path : undefined;
    return [downstreamServiceError(error, fetch.serviceName, concrete)];
  }
  return paths.map((path) => downstreamServiceError(error, fetch.serviceName, path));
}

function generateHydratedPaths(parent: ResponsePath, path: ResponsePath, data: unknown, result: ResponsePath[]): void {
  const head = path[0];
  if (data == null) return;
  if (head == null) {
    result.push(parent.slice());
  } else if (head === '@') {
    assert(Array.isArray(data), 'expected array when encountering `@`');
    for (const [index, value] of (data as unknown[]).entries()) {
      parent.push(index);
      generateHydratedPaths(parent, path.slice(1), value, result);
      parent.pop();
    }
  } else if (typeof head === 'string') {
    if (Array.isArray(data)) {
      for (const [index, value] of data.entries()) {
        parent.push(index);
        generateHydratedPaths(parent, path, value, result);
        parent.pop();
      }
    } else if (hasOwn(data, head)) {
      parent.push(head);
      generateHydratedPaths(parent, path.slice(1), (data as ResultMap)[head], result);
      parent.pop();
    }
  } else {
    assert(false, `unknown path part "${head}"`);
  }
}

function executeSelectionSet(schema: GraphQLSchema, source: ResultMap | null, selections: QueryPlanSelectionNode[]): ResultMap | null {
  if (source === null) return null;
  const result: ResultMap = emptyRecord();
  for (const selection of selections) {
    if (selection.kind === Kind.FIELD) {
      const responseName = getResponseName(selection);
      const subselections = selection.selections;
      if (!hasOwn(source, responseName) || typeof source[responseName] === 'undefined') return null;
      const value = source[responseName];
      if (Array.isArray(value)) {
        result[responseName] = value.map((element: ResultMap | null) =>
          subselections ? executeSelectionSet(schema, element, subselections) : element,
        );
      } else if (subselections) {
        result[responseName] = executeSelectionSet(schema, value as ResultMap | null, subselections);
      } else {
        result[responseName] = value;
      }
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      if (!selection.typeCondition || !source) continue;
      if (isObjectOfType(schema, source, selection.typeCondition))
        deepMerge(result, executeSelectionSet(schema, source, selection.selections));
    }
  }
  return result;
}

function moveIntoCursor(cursor: ResultCursor, pathInCursor: ResponsePath): ResultCursor | undefined {
  const data = flattenResultsAtPath(cursor.data, pathInCursor) as ResultCursor['data'] | null | undefined;
  return data ? { path: cursor.path.concat(pathInCursor), data, fullResult: cursor.fullResult } : undefined;
}

/** Stock's recursion, without a copy of the rest of the path and a flatMap array per level. */
function flattenResultsAtPath(value: unknown, path: ResponsePath, from = 0): unknown {
  if (from === path.length) return value;
  if (value === undefined || value === null) return value;
  const current = path[from];
  if (current === '@') {
    const flattened: unknown[] = [];
    for (const element of value as unknown[]) {
      const inner = flattenResultsAtPath(element, path, from + 1);
      // flatMap's one level of flattening: a list element that is itself a list contributes its elements.
      if (Array.isArray(inner)) for (const item of inner) flattened.push(item);
      else flattened.push(inner);
    }
    return flattened;
  }
  assert(typeof current === 'string', () => `Unexpected ${typeof current} found in path`);
  assert(!Array.isArray(value), () => `Unexpected array in result for path element ${current}`);
  return flattenResultsAtPath(getOwn(value, current), path, from + 1);
}

function downstreamServiceError(
  originalError: { message?: string; extensions?: Record<string, unknown>; originalError?: Error },
  serviceName: string,
  path: ResponsePath | undefined,
): GraphQLError {
  const message = originalError.message || `Error while fetching subquery from service "${serviceName}"`;
  const { extensions } = originalError;
  const options = {
    originalError: (originalError.originalError ?? originalError) as Error,
    path,
    extensions: { ...extensions, serviceName },
  };
  const codeDef = errorCodeDef(originalError as GraphQLError);
  if (!codeDef && extensions?.code) return new GraphQLError(message, options);
  return (codeDef ?? ERRORS.DOWNSTREAM_SERVICE_ERROR).err(message, options);
}

export function executeIntrospection(
  schema: GraphQLSchema,
  selection: FieldNode,
  variableDefinitions: readonly VariableDefinitionNode[] | undefined,
  variableValues: Record<string, unknown> | undefined,
): unknown {
  const used = new Set<string>();
  visit(selection, { Variable: ({ name }) => void used.add(name.value) });
  const definitions = variableDefinitions?.filter((definition) => used.has(definition.variable.name.value));
  assert(
    used.size === (definitions?.length ?? 0),
    () => `Should have found all used variables ${[...used]} in definitions ${JSON.stringify(variableDefinitions)}`,
  );
  const { data, errors } = executeSync({
    schema,
    document: {
      kind: Kind.DOCUMENT,
      definitions: [
        {
          kind: Kind.OPERATION_DEFINITION,
          operation: OperationTypeNode.QUERY,
          variableDefinitions: definitions,
          selectionSet: { kind: Kind.SELECTION_SET, selections: [selection] },
        },
      ],
    },
    rootValue: {},
    variableValues,
  });
  assert(
    !errors || errors.length === 0,
    () => `Introspection query for ${JSON.stringify(selection)} should not have failed but got ${JSON.stringify(errors)}`,
  );
  assert(data, () => `Introspection query for ${JSON.stringify(selection)} should not have failed`);
  return getOwn(data, selection.alias?.value ?? selection.name.value);
}
