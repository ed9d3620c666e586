import type { GraphQLDataSource } from '@apollo/gateway';
import {
  baseType,
  FragmentElement,
  isCompositeType,
  Operation,
  parseSelectionSet,
  possibleRuntimeTypes,
  selectionSetOfElement,
  type CompositeType,
  type FieldSelection,
  type OperationElement,
  type Selection,
  type SelectionSet,
} from '@apollo/federation-internals';
import { type DeferredNode, type PlanNode, type QueryPlan } from '@apollo/query-planner';
import type { GatewayExecutionResult, GatewayGraphQLRequestContext } from '@apollo/server-gateway-interface';
import { createAsyncQueue, ErrorCode, formatClientError, type AsyncQueue } from '@nexusflow/kit/core';
import { GraphQLError, type GraphQLFormattedError, type GraphQLSchema } from 'graphql';
import type { GatewayContext } from '../context.ts';
import { conditionHolds } from './conditions.ts';
import { executeIntrospection, executePlanNode, type PreparedOperation } from './execute-plan.ts';
import { emptyRecord } from './response-record.ts';
import { computeResponse } from './result-shaping.ts';

/**
 * Incremental delivery of `@defer`, in the format Apollo Client and Apollo Router speak (`deferSpec=20220824`): a first
 * payload `{ data, errors?, hasNext: true }`, then payloads `{ incremental: [{ data, path, label?, errors? }], hasNext }`.
 *
 * Apollo's query planner, with `incrementalDelivery.enableDefer`, plans a document using @defer as a DeferNode: a
 * primary block, and deferred blocks (each possibly a DeferNode again, for nested @defer) whose fetches start once
 * the primary block's data is in. Stock @apollo/gateway cannot execute such plans; here each block runs through the
 * executor's own entry point ({@link executePlanNode}) into the one response tree, and each deferred block is shaped
 * and sent as soon as its own fetches are done, whichever subgraph answers first.
 */

/** The media type of the incremental format Apollo Client, Apollo Router and Apollo Server (legacy) share. */
export const DEFER_SPEC = 'deferSpec=20220824';

/** Whether an `Accept` header asks for the incremental format this gateway speaks. */
export function acceptsIncrementalDelivery(accept: string | null | undefined): boolean {
  return !!accept && accept.includes('multipart/mixed') && accept.replace(/\s+/g, '').includes(DEFER_SPEC);
}

/** One deferred fragment's data where it landed: one per object the fragment applies to. */
export interface IncrementalItem {
  data: Record<string, unknown> | null;
  path: (string | number)[];
  label?: string;
  errors?: GraphQLFormattedError[];
}

/** A payload after the first: what deferred blocks delivered, and whether more will come. */
export interface SubsequentPayload {
  incremental?: IncrementalItem[];
  hasNext: boolean;
}

/**
 * What a transport that can stream offers the executor, on the request's context: the executor then answers the
 * primary block at once and leaves the deferred payloads here. Without it, a deferred fragment is answered with the
 * rest (as the incremental delivery proposal allows a server to), in one result.
 */
export class IncrementalDelivery {
  subsequent: AsyncIterableIterator<SubsequentPayload> | undefined;
}

const DELIVERY = Symbol('incremental delivery');
type WithDelivery = { [DELIVERY]?: IncrementalDelivery };

/** Lets operations run with `context` stream deferred fragments; the returned slot receives their payloads. */
export function offerIncrementalDelivery(context: object): IncrementalDelivery {
  const delivery = new IncrementalDelivery();
  (context as WithDelivery)[DELIVERY] = delivery;
  return delivery;
}

export function incrementalDeliveryOf(context: object | undefined): IncrementalDelivery | undefined {
  return context ? (context as WithDelivery)[DELIVERY] : undefined;
}

type ResultMap = Record<string, unknown>;
type Variables = Record<string, unknown> | undefined;

/** The node a plan starts with once its top-level conditions (`@defer(if: $var)`) are decided for these variables. */
function decided(node: QueryPlan['node'], operation: Operation, variables: Variables): QueryPlan['node'] {
  let current = node;
  while (current?.kind === 'Condition')
    current = conditionHolds(current, operation.variableDefinitions, variables) ? current.ifClause : current.elseClause;
  return current;
}

export interface IncrementalExecution {
  prepared: PreparedOperation;
  serviceMap: Record<string, GraphQLDataSource>;
  requestContext: GatewayGraphQLRequestContext;
  supergraphSchema: GraphQLSchema;
  /** Time left for the deferred blocks once the primary block is answered; 0: no limit. */
  remainingMs: () => number;
}

/**
 * Executes a plan whose root is a DeferNode for a client that takes incremental delivery: the primary block's result
 * is returned, the deferred payloads go to `delivery`. Returns undefined for any other plan (no @defer, or every one
 * `if: false`), which the caller executes as usual.
 */
export async function executeIncrementally(
  execution: IncrementalExecution,
  delivery: IncrementalDelivery,
): Promise<GatewayExecutionResult | undefined> {
  const { prepared, requestContext } = execution;
  const variables = requestContext.request.variables;
  const root = decided(prepared.queryPlan.node, prepared.operation, variables);
  if (root?.kind !== 'Defer') return undefined;

  const data = emptyRecord<ResultMap>();
  const errors: GraphQLError[] = [];
  if (root.primary.node) await runNode(execution, root.primary.node, data, errors);
  const shaped = shape(execution, primaryOperation(prepared.operation, variables), data);
  // As executePlan answers: the fetches' errors, or else the value completion's, where stock puts them.
  const initial: GatewayExecutionResult =
    errors.length > 0
      ? { data: shaped.data, errors }
      : shaped.errors.length > 0
        ? { data: shaped.data, extensions: { valueCompletion: shaped.errors } }
        : { data: shaped.data };
  // Nothing more to send: the primary data is null, or the operation's time ran out while it was fetched.
  if (shaped.data === null || (requestContext.context as Partial<GatewayContext>).deadline?.aborted) return initial;

  const deadline = new AbortController();
  const remainingMs = execution.remainingMs();
  const timer = remainingMs > 0 ? setTimeout(() => deadline.abort(), remainingMs) : undefined;
  // The primary block's deadline has passed with its answer; the deferred fetches stop at this one.
  (requestContext.context as Partial<GatewayContext>).deadline = deadline.signal;
  const queue = createAsyncQueue<SubsequentPayload>({
    onReturn: () => {
      clearTimeout(timer);
      deadline.abort();
    },
  });
  const stream = new DeferredStream(execution, data, queue, deadline.signal);
  stream.start(root.deferred);
  delivery.subsequent = queue;
  return initial;
}

/** Sends each deferred block as it completes, and `hasNext: false` with the last. */
class DeferredStream {
  private readonly pending = new Set<DeferredNode>();
  private finished = false;

  constructor(
    private readonly execution: IncrementalExecution,
    private readonly data: ResultMap,
    private readonly queue: AsyncQueue<SubsequentPayload>,
    deadline: AbortSignal,
  ) {
    deadline.addEventListener('abort', () => this.timeOut(), { once: true });
  }

  start(blocks: readonly DeferredNode[]): void {
    if (blocks.length === 0) return this.finish([]);
    for (const block of blocks) this.pending.add(block);
    for (const block of blocks) this.launch(block);
  }

  private launch(block: DeferredNode): void {
    this.run(block).catch((error: unknown) => {
      this.execution.requestContext.logger.error(`A deferred block failed: ${String(error)}`);
      const failure = new GraphQLError('Internal server error', { extensions: { code: ErrorCode.InternalServerError } });
      this.complete(block, this.failedItems(block, failure), []);
    });
  }

  private async run(block: DeferredNode): Promise<void> {
    const { prepared, requestContext } = this.execution;
    const node = decided(block.node, prepared.operation, requestContext.request.variables);
    const own = node?.kind === 'Defer' ? node : undefined;
    const fetches = own ? own.primary.node : node;
    const subselection = own ? own.primary.subselection : block.subselection;
    const errors: GraphQLError[] = [];
    if (fetches && fetches.kind !== 'Subscription') await runNode(this.execution, fetches, this.data, errors);
    const items = subselection ? this.items(block, subselection, errors) : [];
    this.complete(block, items, own?.deferred ?? []);
  }

  /** The block's data at each object it applies to, each error with the item whose path it falls under. */
  private items(block: DeferredNode, subselection: string, errors: GraphQLError[]): IncrementalItem[] {
    const { prepared } = this.execution;
    const paths = instancesAt(this.data, block.queryPath, prepared.operation);
    if (paths.length === 0) return [];
    const shaped = shape(this.execution, deferredOperation(prepared.operation, block, subselection), this.data);
    const items = paths.map((path) => item(block, path, valueAt(shaped.data, path)));
    // The fetches' errors, or else the value completion's (a null in a non-null field), as the first payload has them.
    for (const error of errors.length > 0 ? errors : shaped.errors) {
      const owner = items.find((candidate) => isPrefix(candidate.path, error.path)) ?? items[0]!;
      (owner.errors ??= []).push(formatted(error));
    }
    return items;
  }

  /** A block that cannot be delivered: null at each object it applies to, with why. */
  private failedItems(block: DeferredNode, error: GraphQLError): IncrementalItem[] {
    const paths = instancesAt(this.data, block.queryPath, this.execution.prepared.operation);
    return paths.map((path) => ({ ...item(block, path, null), errors: [formatted(error)] }));
  }

  private complete(block: DeferredNode, items: IncrementalItem[], nested: readonly DeferredNode[]): void {
    if (this.finished || !this.pending.delete(block)) return;
    // Nested blocks are counted before this payload goes, so that its hasNext already says they will come.
    for (const child of nested) this.pending.add(child);
    if (this.pending.size === 0) this.finish(items);
    else if (items.length > 0) this.queue.push({ incremental: items, hasNext: true });
    for (const child of nested) this.launch(child);
  }

  private finish(items: IncrementalItem[]): void {
    if (this.finished) return;
    this.finished = true;
    this.queue.push(items.length > 0 ? { incremental: items, hasNext: false } : { hasNext: false });
    this.queue.end();
  }

  /** Out of time: each block still deferred is answered null with the timeout, and the stream ends. */
  private timeOut(): void {
    if (this.finished) return;
    const timeout = new GraphQLError('The deferred part of the operation did not finish in time', {
      extensions: { code: ErrorCode.GatewayTimeout },
    });
    this.finish([...this.pending].flatMap((block) => this.failedItems(block, timeout)));
  }
}

function item(block: DeferredNode, path: (string | number)[], data: ResultMap | null): IncrementalItem {
  return { data, path, ...(block.label === undefined ? {} : { label: block.label }) };
}

function runNode(execution: IncrementalExecution, node: PlanNode, data: ResultMap, errors: GraphQLError[]): Promise<void> {
  return executePlanNode(
    execution.prepared,
    execution.serviceMap,
    execution.requestContext,
    execution.supergraphSchema,
    node,
    data,
    errors,
  );
}

function shape(
  execution: IncrementalExecution,
  operation: Operation,
  data: ResultMap,
): { data: ResultMap | null | undefined; errors: GraphQLError[] } {
  const { operationContext } = execution.prepared;
  const variables = execution.requestContext.request.variables;
  return computeResponse({
    operation,
    variables,
    input: data,
    introspectionHandling: (selection) =>
      executeIntrospection(
        operationContext.schema,
        selection.expandFragments().toSelectionNode(),
        operationContext.operation.variableDefinitions,
        variables,
      ),
  });
}

/** Errors leave as over HTTP: a known code and its message, nothing internal. */
function formatted(error: GraphQLError): GraphQLFormattedError {
  return formatClientError(error.toJSON(), error);
}

// ---------------------------------------------------------------------------------------------------------
// What each payload selects: the operation without its active deferred fragments, and each deferred fragment at
// its path. Built once per plan (and per value of the `if` variables), beside the plan.

const expandedOperations = new WeakMap<Operation, Operation>();
const primaryOperations = new WeakMap<Operation, Map<string, Operation>>();
const deferredOperations = new WeakMap<DeferredNode, Operation>();

function expanded(operation: Operation): Operation {
  let result = expandedOperations.get(operation);
  if (!result) {
    result = operation.expandAllFragments();
    expandedOperations.set(operation, result);
  }
  return result;
}

/** Whether a fragment is deferred for these variables: it has @defer, and its `if` is not false. */
function isDeferred(selection: Selection, values: Record<string, unknown>): boolean {
  if (selection.kind !== 'FragmentSelection') return false;
  const args = selection.element.deferDirectiveArgs();
  if (!args) return false;
  const condition = args.if;
  if (condition === undefined || typeof condition === 'boolean') return condition !== false;
  return values[condition.name] !== false;
}

/** The operation as the first payload answers it: every deferred fragment left out, the objects around them kept. */
function primaryOperation(operation: Operation, variables: Variables): Operation {
  const full = expanded(operation);
  const values = { ...full.collectDefaultedVariableValues(), ...variables };
  const conditions = [...full.variableDefinitions.definitions()].map(
    (definition) => `${definition.variable.name}=${String(values[definition.variable.name] !== false)}`,
  );
  const key = conditions.join(',');
  let byConditions = primaryOperations.get(operation);
  if (!byConditions) primaryOperations.set(operation, (byConditions = new Map<string, Operation>()));
  let result = byConditions.get(key);
  if (!result) {
    const selectionSet = full.selectionSet.filterRecursiveDepthFirst((selection) => !isDeferred(selection, values));
    result = new Operation(full.schema(), full.rootKind, selectionSet, full.variableDefinitions, undefined, full.name);
    byConditions.set(key, result);
  }
  return result;
}

/**
 * A deferred block as an operation of its own: the fields leading to its path (as the client wrote them, arguments
 * and aliases included) and, there, the block's own selection, as the planner gives it. Shaped over the whole
 * response, it yields exactly that block's data at each object it applies to.
 */
function deferredOperation(operation: Operation, block: DeferredNode, subselection: string): Operation {
  let result = deferredOperations.get(block);
  if (result) return result;
  const full = expanded(operation);
  const schema = full.schema();
  const chain: OperationElement[] = [];
  let parentType: CompositeType = full.selectionSet.parentType;
  let scope: SelectionSet | undefined = full.selectionSet;
  for (const element of block.queryPath) {
    if (element.startsWith('... on ')) {
      const typeCondition = schema.type(element.slice('... on '.length));
      if (!typeCondition || !isCompositeType(typeCondition)) throw new Error(`Unknown type in deferred path ${block.queryPath.join('/')}`);
      chain.push(new FragmentElement(parentType, typeCondition));
      parentType = typeCondition;
      continue;
    }
    const field: FieldSelection | undefined = scope && findField(scope, element);
    if (!field) throw new Error(`No field ${element} on the deferred path ${block.queryPath.join('/')}`);
    chain.push(field.element.withoutDefer());
    const fieldType = baseType(field.element.definition.type!);
    if (!isCompositeType(fieldType)) throw new Error(`The deferred path ${block.queryPath.join('/')} goes through a leaf`);
    parentType = fieldType;
    scope = field.selectionSet;
  }
  let selectionSet = parseSelectionSet({
    parentType,
    source: subselection,
    variableDefinitions: full.variableDefinitions,
    validate: false,
  });
  for (let i = chain.length - 1; i >= 0; i--) selectionSet = selectionSetOfElement(chain[i]!, selectionSet);
  result = new Operation(schema, full.rootKind, selectionSet, full.variableDefinitions, undefined, full.name);
  deferredOperations.set(block, result);
  return result;
}

/** The field of that response name in a selection set, looking through its fragments. */
function findField(selectionSet: SelectionSet, responseName: string): FieldSelection | undefined {
  for (const selection of selectionSet.selections()) {
    if (selection.kind === 'FieldSelection') {
      if (selection.element.responseName() === responseName) return selection;
    } else if (selection.selectionSet) {
      const found = findField(selection.selectionSet, responseName);
      if (found) return found;
    }
  }
  return undefined;
}

/** The concrete paths (list indexes included) of the objects a deferred path reaches in the response. */
function instancesAt(data: ResultMap, queryPath: readonly string[], operation: Operation): (string | number)[][] {
  const schema = operation.schema();
  const found: (string | number)[][] = [];
  const walk = (value: unknown, index: number, path: (string | number)[]): void => {
    if (value === null || value === undefined) return;
    if (Array.isArray(value)) {
      value.forEach((element, position) => walk(element, index, [...path, position]));
      return;
    }
    if (typeof value !== 'object') return;
    if (index === queryPath.length) {
      found.push(path);
      return;
    }
    const element = queryPath[index]!;
    if (element.startsWith('... on ')) {
      const typename = (value as ResultMap).__typename;
      const typeCondition = schema.type(element.slice('... on '.length));
      const applies =
        typeof typename !== 'string' ||
        !typeCondition ||
        !isCompositeType(typeCondition) ||
        possibleRuntimeTypes(typeCondition).some((type) => type.name === typename);
      if (applies) walk(value, index + 1, path);
      return;
    }
    walk((value as ResultMap)[element], index + 1, [...path, element]);
  };
  walk(data, 0, []);
  return found;
}

function valueAt(data: ResultMap | null | undefined, path: readonly (string | number)[]): ResultMap | null {
  let current: unknown = data;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return null;
    current = (current as Record<string | number, unknown>)[key];
  }
  return current !== null && typeof current === 'object' ? (current as ResultMap) : null;
}

function isPrefix(prefix: readonly (string | number)[], path: readonly (string | number)[] | undefined): boolean {
  return !!path && prefix.length <= path.length && prefix.every((key, index) => path[index] === key);
}
