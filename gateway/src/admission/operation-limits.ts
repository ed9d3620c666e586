import { GraphQLError, Kind, parse, type DocumentNode, type FragmentDefinitionNode, type SelectionSetNode } from 'graphql';
import { ErrorCode } from '@nexusflow/kit/core';

/**
 * Bounds checked on a document before it is validated or planned, so that what a document costs the gateway
 * is known from its text in linear time. Names and spirit follow Apollo Router's `limits` and graphql-armor;
 * the defaults leave every known client operation (and GraphiQL's introspection query) far below them.
 */
export interface OperationLimits {
  /** Lexical tokens the parser reads before giving up (Router's `parser_max_tokens`). @default 5000 */
  maxTokens: number;
  /** Nested selections on the deepest path, counted through fragments. @default 15 */
  maxDepth: number;
  /** Aliased fields, counted after fragment expansion. @default 30 */
  maxAliases: number;
  /** Fields selected at the root of one operation, fragments included. @default 20 */
  maxRootFields: number;
  /** Directives on any one field, fragment spread or inline fragment. @default 5 */
  maxDirectivesPerField: number;
  /**
   * Fields after every fragment spread is expanded: what the document would cost to validate, plan and
   * shape. Fragments that select each other twice per level double at each level; this refuses them. @default 1000
   */
  maxFields: number;
  /** Nesting of objects and lists in the request's variables. @default 32 */
  maxVariableDepth: number;
}

export const DEFAULT_OPERATION_LIMITS: Readonly<OperationLimits> = Object.freeze({
  maxTokens: 5000,
  maxDepth: 15,
  maxAliases: 30,
  maxRootFields: 20,
  maxDirectivesPerField: 5,
  maxFields: 1000,
  maxVariableDepth: 32,
});

/** Why a document was refused before any GraphQL work: always a client error (HTTP 400) with its own code. */
export class OperationRefused extends Error {
  override readonly name = 'OperationRefused';

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }

  toGraphQLError(): GraphQLError {
    return new GraphQLError(this.message, { extensions: { code: this.code } });
  }
}

/** What a document costs once its fragments are expanded. */
export interface DocumentMeasures {
  fields: number;
  aliases: number;
  depth: number;
  rootFields: number;
}

interface SelectionMeasures {
  fields: number;
  aliases: number;
  depth: number;
}

const ZERO: SelectionMeasures = Object.freeze({ fields: 0, aliases: 0, depth: 0 });

/**
 * Measures a document in time linear in its size: each fragment is measured once and its measures reused at
 * every spread, so a document whose expansion is exponential is measured, and refused, without expanding it.
 * A fragment that spreads itself (invalid, and refused by validation later) counts as empty here.
 */
export function measureDocument(document: DocumentNode, maxDirectivesPerField: number): DocumentMeasures {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  const measured = new Map<string, SelectionMeasures>();
  const inProgress = new Set<string>();
  const spreadFragments = new Set<string>();

  const checkDirectives = (count: number | undefined, where: string) => {
    if ((count ?? 0) > maxDirectivesPerField) {
      throw new OperationRefused(
        ErrorCode.MaxDirectivesLimit,
        `${where} has ${count} directives; at most ${maxDirectivesPerField} are allowed on one field`,
      );
    }
  };

  const fragmentMeasures = (name: string): SelectionMeasures => {
    spreadFragments.add(name);
    const known = measured.get(name);
    if (known) return known;
    const fragment = fragments.get(name);
    if (!fragment || inProgress.has(name)) return ZERO;
    inProgress.add(name);
    const measures = selectionMeasures(fragment.selectionSet);
    inProgress.delete(name);
    measured.set(name, measures);
    return measures;
  };

  const selectionMeasures = (selectionSet: SelectionSetNode): SelectionMeasures => {
    let fields = 0;
    let aliases = 0;
    let depth = 0;
    for (const selection of selectionSet.selections) {
      let inner: SelectionMeasures;
      if (selection.kind === Kind.FIELD) {
        checkDirectives(selection.directives?.length, `Field "${selection.alias?.value ?? selection.name.value}"`);
        const below = selection.selectionSet ? selectionMeasures(selection.selectionSet) : ZERO;
        inner = { fields: below.fields + 1, aliases: below.aliases + (selection.alias ? 1 : 0), depth: below.depth + 1 };
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        checkDirectives(selection.directives?.length, 'An inline fragment');
        inner = selectionMeasures(selection.selectionSet);
      } else {
        checkDirectives(selection.directives?.length, `The spread of fragment "${selection.name.value}"`);
        inner = fragmentMeasures(selection.name.value);
      }
      fields += inner.fields;
      aliases += inner.aliases;
      depth = Math.max(depth, inner.depth);
    }
    return { fields, aliases, depth };
  };

  const totals: DocumentMeasures = { fields: 0, aliases: 0, depth: 0, rootFields: 0 };
  const add = (measures: SelectionMeasures) => {
    totals.fields += measures.fields;
    totals.aliases += measures.aliases;
    totals.depth = Math.max(totals.depth, measures.depth);
  };
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.OPERATION_DEFINITION) continue;
    checkDirectives(definition.directives?.length, `Operation "${definition.name?.value ?? 'anonymous'}"`);
    const measures = selectionMeasures(definition.selectionSet);
    add(measures);
    totals.rootFields = Math.max(totals.rootFields, rootFieldCount(definition.selectionSet, fragments));
  }
  // Fragments no operation uses are still validated, so they cost what they expand to.
  for (const name of fragments.keys()) {
    if (!spreadFragments.has(name)) add(fragmentMeasures(name));
  }
  return totals;
}

/** Fields at the root, through fragments and inline fragments (each fragment entered once). */
function rootFieldCount(
  selectionSet: SelectionSetNode,
  fragments: Map<string, FragmentDefinitionNode>,
  entered = new Set<string>(),
): number {
  let count = 0;
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) count += 1;
    else if (selection.kind === Kind.INLINE_FRAGMENT) count += rootFieldCount(selection.selectionSet, fragments, entered);
    else if (!entered.has(selection.name.value)) {
      entered.add(selection.name.value);
      const fragment = fragments.get(selection.name.value);
      if (fragment) count += rootFieldCount(fragment.selectionSet, fragments, entered);
    }
  }
  return count;
}

function refuseAbove(value: number, limit: number, code: ErrorCode, describe: (value: number, limit: number) => string): void {
  if (value > limit) throw new OperationRefused(code, describe(value, limit));
}

const count = (value: number) => (Number.isFinite(value) && value < 1e15 ? value.toLocaleString('en-US') : 'too many');

// graphql-js says "more that N tokens" (sic); both spellings are accepted in case it is corrected.
const TOKEN_LIMIT_MESSAGE = /Document contains more tha[nt] \d+ tokens/;

/**
 * Parses a document within the token limit and checks it against every limit; throws {@link OperationRefused}
 * (or the parser's own GraphQLError for a syntax error) before any validation or planning happens.
 */
export function parseWithinLimits(source: string, limits: OperationLimits): DocumentNode {
  let document: DocumentNode;
  try {
    document = parse(source, { maxTokens: limits.maxTokens });
  } catch (error) {
    if (error instanceof GraphQLError && TOKEN_LIMIT_MESSAGE.test(error.message)) {
      throw new OperationRefused(
        ErrorCode.MaxTokensLimit,
        `The document has more than ${count(limits.maxTokens)} tokens; parsing stopped there`,
      );
    }
    throw error;
  }
  checkDocumentLimits(document, limits);
  return document;
}

export function checkDocumentLimits(document: DocumentNode, limits: OperationLimits): DocumentMeasures {
  const measures = measureDocument(document, limits.maxDirectivesPerField);
  refuseAbove(
    measures.depth,
    limits.maxDepth,
    ErrorCode.MaxDepthLimit,
    (value, limit) => `The operation nests selections ${count(value)} levels deep; at most ${count(limit)} are allowed`,
  );
  refuseAbove(
    measures.rootFields,
    limits.maxRootFields,
    ErrorCode.MaxRootFieldsLimit,
    (value, limit) => `The operation selects ${count(value)} root fields; at most ${count(limit)} are allowed`,
  );
  refuseAbove(
    measures.aliases,
    limits.maxAliases,
    ErrorCode.MaxAliasesLimit,
    (value, limit) => `The operation uses ${count(value)} aliases once fragments are expanded; at most ${count(limit)} are allowed`,
  );
  refuseAbove(
    measures.fields,
    limits.maxFields,
    ErrorCode.MaxFieldsLimit,
    (value, limit) => `The operation selects ${count(value)} fields once fragments are expanded; at most ${count(limit)} are allowed`,
  );
  return measures;
}

/**
 * Refuses variables nested deeper than the limit, walking them without recursion: a value nested 20,000 levels
 * deep must be refused as bad input, not overflow the stack of whatever coerces it later.
 */
export function checkVariableDepth(variables: unknown, maxDepth: number): void {
  const pending: [unknown, number][] = [[variables, 0]];
  while (pending.length > 0) {
    const [value, depth] = pending.pop()!;
    if (typeof value !== 'object' || value === null) continue;
    if (depth > maxDepth) {
      throw new OperationRefused(ErrorCode.BadUserInput, `Variables are nested more than ${count(maxDepth)} levels deep`);
    }
    for (const child of Array.isArray(value) ? value : Object.values(value)) {
      if (typeof child === 'object' && child !== null) pending.push([child, depth + 1]);
    }
  }
}
