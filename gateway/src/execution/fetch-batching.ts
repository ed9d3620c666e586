import type { GraphQLDataSource } from '@apollo/gateway';
import type { FetchNode } from '@apollo/query-planner';
import { ErrorCode } from '@nexusflow/kit/core';
import {
  GraphQLError,
  Kind,
  OperationTypeNode,
  parse,
  stripIgnoredCharacters,
  print,
  visit,
  type DefinitionNode,
  type DocumentNode,
  type FieldNode,
  type OperationDefinitionNode,
  type SelectionNode,
  type VariableDefinitionNode,
} from 'graphql';
import { emptyRecord } from './response-record.ts';

type ResultMap = Record<string, unknown>;
export type SubgraphResponse = Awaited<ReturnType<GraphQLDataSource['process']>>;

/** A data source whose subgraph takes several entity fetches merged into one operation (see {@link FetchBatches}). */
export interface BatchingDataSource extends GraphQLDataSource {
  readonly batchesEntityFetches: boolean;
}

export const batchesEntityFetches = (service: GraphQLDataSource): boolean =>
  (service as Partial<BatchingDataSource>).batchesEntityFetches === true;

/** How one fetch is sent on its own: the seam the batch falls back to. */
export type SendAlone = (variables: ResultMap) => Promise<SubgraphResponse>;

/** How a merged operation is sent: the same seam, with the merged text and variables. */
export type SendMerged = (request: { query: string; operationName: string; variables: ResultMap }) => Promise<SubgraphResponse>;

interface Waiting {
  fetch: FetchNode;
  variables: ResultMap;
  sendAlone: SendAlone;
  resolve: (response: SubgraphResponse) => void;
  reject: (error: unknown) => void;
}

export interface MergedOperation {
  query: string;
  operationName: string;
  /** Each part's variable names in the merged operation, by its own name. */
  variableNames: Map<string, string>[];
  /** The response key of each part's `_entities` in the merged answer. */
  entitiesKeys: string[];
}

/**
 * Entity fetches of one operation to one subgraph that start in the same tick go as one request, their operations
 * merged into one whose root fields are aliased per part (`_0__entities`, `_1__entities`), with their variables and
 * fragments renamed per part: as Hive Gateway's batched execution does. A plan's parallel branches often ask the
 * same subgraph at once with different selections, and each request costs both sides a socket write, an HTTP
 * exchange and a GraphQL execution; merged, the subgraph also loads the parts' entities together. Nothing is shared
 * between client operations: only one operation's own fetches merge.
 *
 * The answer is split by alias: each part gets its own `_entities` and the errors under it, their paths as its own
 * request would have given them. What cannot be split that way (an error with no path or another root, no list for a
 * part) and a merged request the subgraph refuses (an HTTP error status) send each part again alone, exactly as it
 * would have been sent, so that every error stays what an unbatched fetch gives; a subgraph that is unavailable (down,
 * timed out, 502–504) fails every part at once, without being asked again. A part is never held back: the batch
 * leaves once the tick's promise jobs have run, before any I/O.
 */
export class FetchBatches {
  private readonly waiting = new Map<string, Waiting[]>();
  private scheduled = false;

  constructor(private readonly sendMerged: (serviceName: string) => SendMerged) {}

  /** Whether this fetch may wait for others: an entity query. Whether it can merge is settled when another joins it. */
  static mayJoin(fetch: FetchNode): boolean {
    return fetch.requires !== undefined && fetch.operationKind === OperationTypeNode.QUERY;
  }

  fetch(fetch: FetchNode, variables: ResultMap, sendAlone: SendAlone): Promise<SubgraphResponse> {
    return new Promise((resolve, reject) => {
      let queue = this.waiting.get(fetch.serviceName);
      if (!queue) this.waiting.set(fetch.serviceName, (queue = []));
      queue.push({ fetch, variables, sendAlone, resolve, reject });
      if (this.scheduled) return;
      this.scheduled = true;
      // After the promise jobs of this tick, as DataLoader batches: every branch of a parallel node has started by then.
      void Promise.resolve().then(() => process.nextTick(() => this.flush()));
    });
  }

  private flush(): void {
    this.scheduled = false;
    const batches = [...this.waiting.entries()];
    this.waiting.clear();
    for (const [serviceName, waiting] of batches) {
      const parts = waiting.length > 1 ? waiting.filter((part) => mergesSafely(part.fetch)) : [];
      for (const part of waiting) if (parts.length < 2 || !parts.includes(part)) sendAlone(part);
      if (parts.length > 1)
        this.sendBatch(serviceName, parts).catch(() => {
          for (const part of parts) sendAlone(part);
        });
    }
  }

  private async sendBatch(serviceName: string, parts: Waiting[]): Promise<void> {
    const merged = mergedOperation(parts.map((part) => part.fetch));
    const variables: ResultMap = emptyRecord();
    parts.forEach((part, index) => {
      const names = merged.variableNames[index]!;
      for (const name of Object.keys(part.variables)) {
        const renamed = names.get(name);
        if (renamed !== undefined) variables[renamed] = part.variables[name];
      }
    });
    let response: SubgraphResponse;
    try {
      response = await this.sendMerged(serviceName)({ query: merged.query, operationName: merged.operationName, variables });
    } catch (error) {
      if (!unavailable(error)) throw error;
      for (const part of parts) part.reject(error);
      return;
    }
    const split = splitAnswer(response, merged);
    if (!split) throw new Error('the merged answer cannot be split by part');
    // The subgraph's `extensions` belong to the merged request as a whole; the executor reads none of a clean answer's.
    parts.forEach((part, index) => part.resolve(split[index]!));
  }
}

/** Whether a fetch can merge; one whose operation cannot even be read goes alone, to fail as it would have anyway. */
const mergesSafely = (fetch: FetchNode): boolean => {
  try {
    return isMergeable(fetch);
  } catch {
    return false;
  }
};

const sendAlone = (part: Waiting): void => {
  part.sendAlone(part.variables).then(part.resolve, part.reject);
};

const unavailable = (error: unknown): boolean => error instanceof GraphQLError && error.extensions.code === ErrorCode.ServiceUnavailable;

/** Each part's own answer, its errors' paths rewritten to its own `_entities`; undefined where that cannot be done. */
function splitAnswer(response: SubgraphResponse, merged: MergedOperation): SubgraphResponse[] | undefined {
  const data = response.data as ResultMap | null | undefined;
  if (!data || !merged.entitiesKeys.every((key) => Array.isArray(data[key]))) return undefined;
  const answers: SubgraphResponse[] = merged.entitiesKeys.map((key) => {
    const own: ResultMap = emptyRecord();
    own._entities = data[key];
    return { data: own };
  });
  for (const error of response.errors ?? []) {
    const index = typeof error.path?.[0] === 'string' ? merged.entitiesKeys.indexOf(error.path[0]) : -1;
    if (index === -1) return undefined;
    const answer = answers[index]!;
    const errors = ((answer as { errors?: unknown[] }).errors ??= []);
    errors.push({ ...error, path: ['_entities', ...error.path!.slice(1)] });
  }
  return answers;
}

/** Whether a fetch can be part of a merged operation: a query of `_entities` alone, as the planner writes entity fetches. */
export function isMergeable(fetch: FetchNode): boolean {
  return FetchBatches.mayJoin(fetch) && mergeablePart(fetch) !== undefined;
}

interface MergeablePart {
  operation: OperationDefinitionNode;
  entities: FieldNode;
  fragments: DefinitionNode[];
}

const partsOfFetch = new WeakMap<FetchNode, MergeablePart | null>();

function mergeablePart(fetch: FetchNode): MergeablePart | undefined {
  let part = partsOfFetch.get(fetch);
  if (part === undefined) {
    part = readPart(fetch) ?? null;
    partsOfFetch.set(fetch, part);
  }
  return part ?? undefined;
}

function readPart(fetch: FetchNode): MergeablePart | undefined {
  if (!fetch.requires || fetch.operationKind !== OperationTypeNode.QUERY) return undefined;
  // The planner keeps the parsed operation only when asked to; the text is what it always gives.
  const document = fetch.operationDocumentNode ?? parse(fetch.operation, { noLocation: true });
  const operations = document.definitions.filter((definition) => definition.kind === Kind.OPERATION_DEFINITION);
  if (operations.length !== 1) return undefined;
  const operation = operations[0]!;
  if (operation.operation !== OperationTypeNode.QUERY || (operation.directives?.length ?? 0) > 0) return undefined;
  const [root, ...others] = operation.selectionSet.selections;
  if (others.length > 0 || root?.kind !== Kind.FIELD || root.name.value !== '_entities' || root.alias) return undefined;
  const fragments = document.definitions.filter((definition) => definition.kind === Kind.FRAGMENT_DEFINITION);
  if (fragments.length + 1 !== document.definitions.length) return undefined;
  return { operation, entities: root, fragments };
}

/** Merged operations by the fetches they merge, in order: a plan's fetches meet in the same batches request after request. */
const mergedOperations = new WeakMap<FetchNode, Map<string, MergedOperation>>();
const fetchIds = new WeakMap<FetchNode, number>();
let nextFetchId = 0;

const idOf = (fetch: FetchNode): number => {
  let id = fetchIds.get(fetch);
  if (id === undefined) fetchIds.set(fetch, (id = nextFetchId++));
  return id;
};

export function mergedOperation(fetches: FetchNode[]): MergedOperation {
  const key = fetches.map(idOf).join(',');
  let byKey = mergedOperations.get(fetches[0]!);
  if (!byKey) mergedOperations.set(fetches[0]!, (byKey = new Map<string, MergedOperation>()));
  let merged = byKey.get(key);
  if (!merged) byKey.set(key, (merged = merge(fetches)));
  return merged;
}

function merge(fetches: FetchNode[]): MergedOperation {
  const variableNames: Map<string, string>[] = [];
  const entitiesKeys: string[] = [];
  const variableDefinitions: VariableDefinitionNode[] = [];
  const selections: SelectionNode[] = [];
  const fragments: DefinitionNode[] = [];
  fetches.forEach((fetch, index) => {
    const part = mergeablePart(fetch)!;
    const prefix = `_${index}_`;
    const names = new Map<string, string>();
    const rename = <T extends object>(node: T): T =>
      visit(node as never, {
        Variable: (variable) => ({ ...variable, name: { ...variable.name, value: renamed(names, prefix, variable.name.value) } }),
        FragmentSpread: (spread) => ({ ...spread, name: { ...spread.name, value: `${prefix}${spread.name.value}` } }),
        FragmentDefinition: (definition) => ({ ...definition, name: { ...definition.name, value: `${prefix}${definition.name.value}` } }),
      });
    for (const definition of part.operation.variableDefinitions ?? []) variableDefinitions.push(rename(definition));
    const entitiesKey = `${prefix}_entities`;
    selections.push({ ...rename(part.entities), alias: { kind: Kind.NAME, value: entitiesKey } });
    for (const fragment of part.fragments) fragments.push(rename(fragment));
    variableNames.push(names);
    entitiesKeys.push(entitiesKey);
  });
  const operationName = `${fetches[0]!.operationName ?? 'Entities'}__batch${fetches.length}`;
  const document: DocumentNode = {
    kind: Kind.DOCUMENT,
    definitions: [
      {
        kind: Kind.OPERATION_DEFINITION,
        operation: OperationTypeNode.QUERY,
        name: { kind: Kind.NAME, value: operationName },
        variableDefinitions,
        selectionSet: { kind: Kind.SELECTION_SET, selections },
      },
      ...fragments,
    ],
  };
  return { query: stripIgnoredCharacters(print(document)), operationName, variableNames, entitiesKeys };
}

function renamed(names: Map<string, string>, prefix: string, name: string): string {
  let value = names.get(name);
  if (value === undefined) names.set(name, (value = `${prefix}${name}`));
  return value;
}
