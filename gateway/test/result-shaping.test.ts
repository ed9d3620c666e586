import { createRequire } from 'node:module';
import { composeServices } from '@apollo/composition';
import {
  isCompositeType,
  isCustomScalarType,
  isEnumType,
  isListType,
  isNonNullType,
  isSubtype,
  operationFromDocument,
  possibleRuntimeTypes,
  Supergraph,
  typenameFieldName,
  type CompositeType,
  type FieldSelection,
  type Operation,
  type Schema,
  type SelectionSet,
  type Type,
} from '@apollo/federation-internals';
import { ApolloGateway, LocalGraphQLDataSource } from '@apollo/gateway';
import { computeResponse as apolloComputeResponse } from '@apollo/gateway/dist/resultShaping.js';
import { ApolloServer } from '@apollo/server';
import { parse } from 'graphql';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  DEEP_QUERY,
  FIXTURE_SUBGRAPH_NAMES,
  FIXTURE_SUBGRAPHS,
  fixtureSchema,
  type FixtureSubgraphName,
} from '../../bench/gateway/fixture/subgraphs.ts';
import { computeResponse } from '../src/execution/result-shaping.ts';

/**
 * Differential test: gateway/src/execution/result-shaping.ts against stock @apollo/gateway's
 * `computeResponse`, each on its own structuredClone of the same input. Both must give the same `data`
 * (byte for byte, and the same objects that inherit nothing), the same errors, the same introspection callbacks,
 * or throw the same error.
 */

type Input = Record<string, any> | null | undefined;
type ShapeArgs = Parameters<typeof apolloComputeResponse>[0];

function supergraphOf(subgraphs: Record<string, string>): string {
  const result = composeServices(
    Object.entries(subgraphs).map(([name, sdl]) => ({ name, url: `http://${name}.invalid/graphql`, typeDefs: parse(sdl) })),
  );
  if (!result.supergraphSdl) throw new Error(`composition failed: ${result.errors?.map((error) => error.message).join('\n')}`);
  return result.supergraphSdl;
}

function operationOf(schema: Schema, query: string): Operation {
  return operationFromDocument(schema, parse(query), { validate: false });
}

/** Whether no property at all reaches the object through its prototypes: its keys are the client's alone. */
function inheritsNothing(value: object): boolean {
  for (let prototype = Object.getPrototypeOf(value); prototype !== null; prototype = Object.getPrototypeOf(prototype)) {
    if (Reflect.ownKeys(prototype).length > 0) return false;
  }
  return true;
}

/** Where objects inherit nothing (stock's null prototypes), which JSON.stringify does not show. */
function layout(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(layout).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    return `${inheritsNothing(value) ? 'N' : 'O'}{${Object.keys(record)
      .map((key) => `${key}:${layout(record[key])}`)
      .join(',')}}`;
  }
  return value === null ? 'null' : typeof value;
}

interface Outcome {
  threw?: string;
  data?: string;
  layout?: string;
  errors?: { message: string; path: unknown; code: unknown; json: unknown }[];
  introspected?: string[];
}

function outcome(shape: typeof apolloComputeResponse, operation: Operation, input: Input, variables?: Record<string, any>): Outcome {
  const introspected: string[] = [];
  const introspectionHandling = (selection: FieldSelection) => {
    introspected.push(String(selection));
    return { fixed: selection.element.name, at: introspected.length };
  };
  try {
    const args: ShapeArgs = { operation, input: structuredClone(input), introspectionHandling };
    if (variables !== undefined) args.variables = structuredClone(variables);
    const { data, errors } = shape(args);
    return {
      data: JSON.stringify(data),
      layout: layout(data),
      errors: errors.map((error) => ({ message: error.message, path: error.path, code: error.extensions.code, json: error.toJSON() })),
      introspected,
    };
  } catch (error) {
    return { threw: error instanceof Error ? `${error.constructor.name}: ${error.message}` : String(error) };
  }
}

/** Runs both and asserts they agree; returns stock's outcome so a case can also check it tests what it says. */
function expectSame(operation: Operation, input: Input, variables?: Record<string, any>): Outcome {
  const stock = outcome(apolloComputeResponse, operation, input, variables);
  const port = outcome(computeResponse, operation, input, variables);
  expect(port).toEqual(stock);
  return stock;
}

/** Small deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Position = { parent: Record<string | number, unknown>; key: string | number };

/** Every property and array element under `root`, as paths, in a stable order. */
function positionsOf(root: unknown): (string | number)[][] {
  const paths: (string | number)[][] = [];
  const walk = (value: unknown, path: (string | number)[]) => {
    if (Array.isArray(value)) {
      value.forEach((element, index) => {
        paths.push([...path, index]);
        walk(element, [...path, index]);
      });
    } else if (value !== null && typeof value === 'object') {
      for (const [key, element] of Object.entries(value)) {
        paths.push([...path, key]);
        walk(element, [...path, key]);
      }
    }
  };
  walk(root, []);
  return paths;
}

/** The container and key at `path`, or undefined where an earlier change replaced an ancestor. */
function at(root: unknown, path: (string | number)[]): Position | undefined {
  let parent = root;
  for (const key of path.slice(0, -1)) {
    if (parent === null || typeof parent !== 'object') return undefined;
    parent = (parent as Record<string | number, unknown>)[key];
  }
  if (parent === null || typeof parent !== 'object') return undefined;
  return { parent: parent as Record<string | number, unknown>, key: path[path.length - 1]! };
}

// -------------------------------------------------------------------------------------------------------
// The benchmark fixture and its deep query, on what stock's executeQueryPlan really hands to computeResponse

describe('result shaping on the deep benchmark query', () => {
  let operation: Operation;
  let input: Record<string, any>;
  let gatewayData: unknown;

  beforeAll(async () => {
    const supergraphSdl = supergraphOf(Object.fromEntries(FIXTURE_SUBGRAPH_NAMES.map((name) => [name, FIXTURE_SUBGRAPHS[name].typeDefs])));
    operation = operationOf(Supergraph.build(supergraphSdl).apiSchema(), DEEP_QUERY);
    // executeQueryPlan reads computeResponse off the CommonJS exports object at each call: swapping it there sees the merged subgraph data.
    const shapingModule = createRequire(import.meta.url)('@apollo/gateway/dist/resultShaping.js') as {
      computeResponse: typeof apolloComputeResponse;
    };
    // Vitest may read named CommonJS imports off that same object: keep the original from before the swap.
    const original = shapingModule.computeResponse;
    let captured: Record<string, any> | undefined;
    shapingModule.computeResponse = (args) => {
      captured ??= structuredClone(args.input ?? undefined);
      return original(args);
    };
    const server = new ApolloServer({
      gateway: new ApolloGateway({
        supergraphSdl,
        buildService: ({ name }) => new LocalGraphQLDataSource(fixtureSchema(name as FixtureSubgraphName)),
      }),
    });
    try {
      await server.start();
      const response = await server.executeOperation({ query: DEEP_QUERY });
      if (response.body.kind !== 'single' || response.body.singleResult.errors)
        throw new Error(`deep query failed: ${JSON.stringify(response.body)}`);
      gatewayData = response.body.singleResult.data;
    } finally {
      shapingModule.computeResponse = original;
      await server.stop();
    }
    if (!captured) throw new Error('computeResponse was not called');
    input = captured;
  });

  it('gives the gateway response', () => {
    const stock = expectSame(operation, input);
    expect(stock.errors).toEqual([]);
    expect(stock.data).toBe(JSON.stringify(gatewayData));
    // The input carries more than the response (keys and __typename for entity fetches, @requires fields).
    expect(JSON.stringify(input).length).toBeGreaterThan(stock.data!.length);
    expect(stock.data!.length).toBeGreaterThan(50_000);
  });

  it('agrees with a value nulled at 200 seeded positions', () => {
    const positions = positionsOf(input);
    const random = prng(20_240_611);
    let withErrors = 0;
    let nullData = 0;
    for (let trial = 0; trial < 200; trial++) {
      const mutated = structuredClone(input);
      const { parent, key } = at(mutated, positions[Math.floor(random() * positions.length)]!)!;
      parent[key] = null;
      const stock = expectSame(operation, mutated);
      if (stock.errors?.length) withErrors++;
      if (stock.data === 'null') nullData++;
    }
    // Non-null fields (ids, upcs) are hit often enough for bubbling to be exercised.
    expect(withErrors).toBeGreaterThan(10);
    expect(nullData).toBeLessThan(200);
  });

  it('agrees under other seeded damage: missing keys, wrong leaf types, odd __typename, several at once', () => {
    const positions = positionsOf(input);
    const random = prng(7);
    const damage = [undefined, 'text', 1.5, 42, true, { an: 'object' }, [], 'Nope', 'Review', 'User'];
    for (let trial = 0; trial < 150; trial++) {
      const mutated = structuredClone(input);
      const count = 1 + Math.floor(random() * 4);
      for (let i = 0; i < count; i++) {
        const position = at(mutated, positions[Math.floor(random() * positions.length)]!);
        if (!position) continue;
        const { parent, key } = position;
        const pick = damage[Math.floor(random() * damage.length)];
        if (pick === undefined && !Array.isArray(parent)) delete parent[key];
        else if (pick !== undefined) parent[key] = structuredClone(pick);
      }
      expectSame(operation, mutated);
    }
  });

  it('agrees with @skip/@include variables and aliases on the deep query', () => {
    const query = `
      query Deep($withReviews: Boolean = true, $skipName: Boolean!) {
        users { id handle: username name @skip(if: $skipName) reviews @include(if: $withReviews) { id text: body product { upc name } } }
        topProducts { upc kind: __typename ... on Product @include(if: $withReviews) { reviews { id } } }
      }`;
    const deep = operationOf(operation.schema(), query);
    // The captured input answers the deep query; these response names are mostly absent from it, which is a case too.
    for (const variables of [{ skipName: true }, { skipName: false, withReviews: false }, { skipName: false }]) {
      expectSame(deep, input, variables);
    }
  });
});

// -------------------------------------------------------------------------------------------------------
// A supergraph with interfaces, unions, enums, custom scalars, non-null fields and nested lists

const LINK = 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key", "@shareable"])';
const CATALOG = `${LINK}
  scalar DateTime
  scalar JSON
  enum Status { ACTIVE ARCHIVED DRAFT }
  interface Node { id: ID! }
  interface Named { name: String }
  type Book implements Node & Named @key(fields: "id") {
    id: ID! name: String title: String! pages: Int rating: Float status: Status available: Boolean
    tags: [String!] published: DateTime meta: JSON author: Author! related: [Media] isbn: ID
  }
  type Movie implements Node & Named @key(fields: "id") { id: ID! name: String duration: Int! status: Status! cast: [Author!]! }
  type Author implements Node & Named @key(fields: "id") { id: ID! name: String born: DateTime active: Boolean books: [Book!] }
  union Media = Book | Movie
  union SearchResult = Book | Movie | Author
  type Query {
    node(id: ID!): Node
    nodes: [Node]
    media: [Media!]
    search(q: String): [SearchResult!]!
    book: Book
    requiredBook: Book!
    scores: [[Int!]]
    matrix: [[Float]!]
    status: Status
    statuses: [Status!]
    flag: Boolean
    count: Int!
    ratio: Float
    json: JSON
    when: DateTime!
    ids: [ID]
    names: [String]
  }`;
const REVIEWS = `${LINK}
  type Book @key(fields: "id") { id: ID! reviews: [Review!] }
  type Review { body: String! stars: Int }
  type Query { topReviews: [Review!]! }`;

interface Case {
  name: string;
  query: string;
  input: Input;
  variables?: Record<string, any>;
  /** What stock does with it, so that the case keeps testing what its name says. */
  check?: (stock: Outcome) => void;
}

const hasError = (fragment: string) => (stock: Outcome) =>
  expect(stock.errors?.map((error) => error.message).join('\n')).toContain(fragment);
const throws = (fragment: string) => (stock: Outcome) => expect(stock.threw).toContain(fragment);
const nullData = (stock: Outcome) => expect(stock.data).toBe('null');

const CASES: Case[] = [
  {
    name: 'aliases, and one field under two aliases',
    query: '{ b: book { t: title p1: pages p2: pages id } first: book { name } book { title } }',
    input: { b: { __typename: 'Book', t: 'T', p1: 1, p2: 2, id: '1' }, first: { name: 'N' }, book: { title: 'plain' } },
    check: (stock) => expect(stock.data).toBe('{"b":{"t":"T","p1":1,"p2":2,"id":"1"},"first":{"name":"N"},"book":{"title":"plain"}}'),
  },
  {
    name: 'the same fields through several fragments, merged in first-seen order',
    query: `query { nodes { id ... on Book { title author { name } } ... on Named { name } ...BookBits ... on Node { id } } }
      fragment BookBits on Book { title author { id born } related { ... on Book { id title } ... on Movie { id } } }`,
    input: {
      nodes: [
        {
          __typename: 'Book',
          id: 'b1',
          title: 'T',
          name: 'N',
          author: { id: 'a1', name: 'A', born: '1970-01-01' },
          related: [{ __typename: 'Book', id: 'b2', title: 'T2' }, { __typename: 'Movie', id: 'm1' }, null],
        },
        { __typename: 'Movie', id: 'm2', name: 'M' },
        { __typename: 'Author', id: 'a3', name: 'Au' },
        null,
      ],
    },
    check: (stock) => expect(stock.data).toContain('"author":{"name":"A","id":"a1","born":"1970-01-01"}'),
  },
  {
    name: 'a field nulled by its first fragment stays null in the next',
    query:
      '{ book { related { ... on Book { title } } ... on Book { related { ... on Book { id } } } } other: book { author { name } ... on Book { author { id } } } }',
    input: {
      book: {
        __typename: 'Book',
        related: [
          { __typename: 'Book', title: null, id: 'x' },
          { __typename: 'Book', title: 't', id: 'y' },
        ],
      },
      other: { author: null },
    },
    check: (stock) => expect(stock.data).toBe('{"book":{"related":[null,{"title":"t","id":"y"}]},"other":null}'),
  },
  {
    name: 'nested fragments on interfaces and unions, decided by __typename',
    query: `{ search { __typename ... on Node { id ... on Book { title } ... on Author { name born } } ... on Named { name } ... on Media { ... on Movie { duration } } }
      nodes { ... on Book { title } ... on Node { id } ... on Named { name } } }`,
    input: {
      search: [
        { __typename: 'Book', id: 'b', title: 'T', name: 'BN' },
        { __typename: 'Movie', id: 'm', name: 'MN', duration: 90 },
        { __typename: 'Author', id: 'a', name: 'AN', born: { y: 1970 } },
      ],
      // No __typename: fragments are tested against the field's type (Node).
      nodes: [
        { id: 'n1', title: 'hidden', name: 'hidden too' },
        { __typename: 'Book', id: 'n2', title: 'T', name: 'named' },
      ],
    },
    check: (stock) => expect(stock.data).toContain('{"id":"n1"}'),
  },
  {
    name: 'an input __typename that is a composite type but not a subtype of the field type',
    query: '{ book { title ... on Book { pages } ... on Author { born } ... on Named { name } } }',
    input: { book: { __typename: 'Author', title: 'T', pages: 3, born: 'then', name: 'n' } },
  },
  {
    name: 'aliased __typename, with and without input, and where it bubbles',
    query:
      '{ t: __typename __typename book { kind: __typename __typename t2: __typename } nodes { kind: __typename id } media { k: __typename ... on Book { title } } }',
    input: {
      book: { kind: 'Book', __typename: 'Book' },
      // An aliased __typename missing from the input falls back to __typename, then to the parent type (an interface here: the element bubbles).
      nodes: [
        { kind: 'Movie', id: '1' },
        { __typename: 'Author', id: '2' },
        { id: '3' },
        { kind: 'Nope', id: '4' },
        { kind: 'Status', id: '5' },
        { kind: 7, id: '6' },
      ],
      media: [{ k: 'Book', title: 'x' }],
    },
    check: (stock) => expect(stock.data).toContain('"nodes":[{"kind":"Movie","id":"1"},{"kind":"Author","id":"2"},null,null,null,null]'),
  },
  {
    name: '__typename at the root and in a null-typename object',
    query: '{ __typename ... on Query { q: __typename } book { __typename } }',
    input: { __typename: null, book: { __typename: '' } },
  },
  {
    name: 'fragments at the root, with a root __typename that names no type or another type',
    query: '{ ... on Query { flag } ... on Book { title } ... { status } }',
    input: { __typename: 'Nope', flag: true, title: 't', status: 'ACTIVE' },
    check: (stock) => expect(stock.data).toBe('{"status":"ACTIVE"}'),
  },
  {
    name: 'fragments at the root under a root __typename of another type',
    query: '{ __typename ... on Query { flag } ... on Book { title } }',
    input: { __typename: 'Book', flag: true, title: 't' },
  },
  {
    name: '@skip and @include with literals, on fields and fragments',
    query:
      '{ book { title @skip(if: true) pages @include(if: false) rating @skip(if: false) @include(if: true) name @skip(if: false) status @include(if: true) ... on Book @skip(if: true) { id } ... @include(if: true) { available } ... @include(if: false) { isbn } } }',
    input: {
      book: { __typename: 'Book', title: 'T', pages: 1, rating: 2.5, name: 'N', status: 'ACTIVE', id: 'i', available: true, isbn: 'x' },
    },
    check: (stock) => expect(stock.data).toBe('{"book":{"rating":2.5,"name":"N","status":"ACTIVE","available":true}}'),
  },
  ...[
    { s: true, i: true },
    { s: false, i: false },
    { s: false, i: true, d: false, e: true },
    { s: true, i: false, d: false },
  ].map((variables): Case => ({
    name: `@skip and @include with variables and defaults ${JSON.stringify(variables)}`,
    query: `query Q($s: Boolean!, $i: Boolean!, $d: Boolean = true, $e: Boolean! = false) {
        book { title @skip(if: $s) pages @include(if: $i) rating @skip(if: $d) name @include(if: $e) ...F @include(if: $i) ... on Book @skip(if: $s) { available }
               id @include(if: $i) id @skip(if: $s) } }
        fragment F on Book { status tags }`,
    variables,
    input: {
      book: { __typename: 'Book', title: 'T', pages: 1, rating: 2.5, name: 'N', status: 'DRAFT', tags: ['a'], available: false, id: '9' },
    },
  })),
  {
    name: 'a missing variable is an assertion error',
    query: 'query Q($s: Boolean!) { book { title @skip(if: $s) } }',
    variables: {},
    input: { book: { title: 'T' } },
    check: throws('Unexpected value undefined for variable $s of @skip(if: $s)'),
  },
  {
    name: 'a variable passed as undefined hides its default',
    query: 'query Q($d: Boolean = true) { book { title @include(if: $d) } }',
    variables: { d: undefined },
    input: { book: { title: 'T' } },
    check: throws('Unexpected value undefined for variable $d'),
  },
  {
    name: 'a non-boolean variable is an assertion error, but not under a true @skip',
    query: 'query Q($s: Boolean!, $i: Boolean!) { book { title @skip(if: true) @include(if: $i) name @skip(if: false) @include(if: $s) } }',
    variables: { s: 'yes', i: 'no' },
    input: { book: { title: 'T', name: 'N' } },
    check: throws('Unexpected value yes for variable $s'),
  },
  {
    name: 'a null in a non-null field bubbles to the nearest nullable parent',
    query: '{ book { id title author { name } } nodes { id } }',
    input: {
      book: { __typename: 'Book', id: '1', title: null, author: null },
      nodes: [
        { __typename: 'Book', id: null },
        { __typename: 'Movie', id: 'm' },
      ],
    },
    check: (stock) => {
      expect(stock.data).toBe('{"book":null,"nodes":[null,{"id":"m"}]}');
      expect(stock.errors?.map((error) => error.path)).toEqual([
        ['book', 'title'],
        ['nodes', 0, 'id'],
      ]);
    },
  },
  {
    name: 'a null in a non-null root field nulls data, and stops at it',
    query: '{ book { title } requiredBook { title } flag }',
    input: { book: { title: null }, requiredBook: { title: null }, flag: true },
    check: nullData,
  },
  {
    name: 'a null element in a non-null list of a non-null field nulls data',
    query: '{ search { ... on Book { title } } }',
    input: { search: [{ __typename: 'Book', title: 't' }, null] },
    check: nullData,
  },
  { name: 'a null non-null leaf at the root', query: '{ count ratio }', input: { count: null, ratio: 1 }, check: nullData },
  {
    name: 'nulls inside non-null lists',
    query: '{ book { tags } scores matrix statuses media { ... on Movie { cast { name } } } }',
    input: {
      book: { tags: ['a', null, 'c'] },
      scores: [[1, null], [2], null],
      matrix: [[1.5, null], null],
      statuses: ['ACTIVE', 'BOGUS'],
      media: [{ __typename: 'Movie', cast: [{ name: 'x' }, null] }],
    },
    check: hasError('Cannot return null for non-nullable array element of type String at index 1.'),
  },
  {
    name: 'invalid __typename values',
    query: '{ book { title } nodes { id } requiredBook { title } }',
    input: {
      book: { __typename: 'Nope', title: 't' },
      nodes: [{ __typename: 'DateTime', id: '1' }, { __typename: 'Status' }, { __typename: 'Movie', id: '2' }],
      requiredBook: { __typename: 'String' },
    },
    check: (stock) => {
      nullData(stock);
      hasError('Invalid __typename found for object at array element of type Node at index 0.');
      // The non-null requiredBook adds no second error: the invalid __typename already reported it.
      expect(stock.errors).toHaveLength(4);
    },
  },
  {
    name: 'invalid leaf values',
    query: '{ book { pages rating status available isbn name title } other: book { pages rating isbn } ids names ratio flag status }',
    input: {
      book: { pages: '12', rating: '1.5', status: 'UNKNOWN', available: 'true', isbn: 1.5, name: 12, title: true },
      other: { pages: 1.5, rating: 1, isbn: -0 },
      ids: [1, '2', 1.5, true, 1e21, 1e20, -0, 2 ** 53 + 2, null, Number.NaN, Number.POSITIVE_INFINITY, -1e21, {}],
      names: ['a', 1, false, ['x']],
      ratio: Number.NaN,
      flag: 0,
      status: 'active',
    },
    check: hasError('Invalid value found for field Book.pages.'),
  },
  {
    name: 'invalid leaf values in non-null positions',
    query: '{ book { title author { name } } movie: media { ... on Movie { duration status } } }',
    input: { book: { title: 7, author: { name: 'ok' } }, movie: [{ __typename: 'Movie', duration: 'long', status: 'ACTIVE' }] },
  },
  { name: 'an invalid non-null root leaf', query: '{ count when }', input: { count: 'x', when: 1 }, check: nullData },
  {
    name: 'custom scalar objects pass through as they are',
    query: '{ book { published meta } json when }',
    input: {
      book: { published: { date: '2020-01-01', tz: { offset: 1 } }, meta: [1, { a: null }, 'x', true] },
      json: { deep: [{ x: 1 }], n: null },
      when: 12345,
    },
    check: (stock) => expect(stock.data).toContain('"meta":[1,{"a":null},"x",true]'),
  },
  {
    name: 'fields missing from the input',
    query: '{ book { name pages } requiredBook { id title } nodes }',
    input: { book: {}, requiredBook: { id: '1' } },
    check: nullData,
  },
  { name: 'an empty input object', query: '{ book { name } status }', input: {} },
  { name: 'a null input', query: '{ book { name } }', input: null, check: (stock) => expect(stock.data).toBe('null') },
  {
    name: 'introspection through the callback, once per response name',
    query:
      '{ __schema { queryType { name } } t: __type(name: "Book") { name } __typename ... on Query { __schema { types { name } } t: __type(name: "Movie") { kind } } book { title } }',
    input: { book: { title: 'x' }, __schema: 'ignored' },
    check: (stock) => expect(stock.introspected).toHaveLength(2),
  },
  {
    name: 'introspection before a null that nulls data',
    query: '{ __schema { queryType { name } } count }',
    input: { count: null },
    check: nullData,
  },
  {
    name: 'response names shadowed by Object.prototype are read as own properties only',
    query: '{ book { constructor: title toString: name hasOwnProperty: pages } }',
    input: { book: { constructor: 'T' } },
  },
  {
    name: 'the response name __proto__ is an own key like any other, never the prototype',
    query: '{ book { __proto__: title name } }',
    input: JSON.parse('{ "book": { "__proto__": "T", "name": "N" } }') as Input,
    check: (stock) => expect(stock.data).toBe('{"book":{"__proto__":"T","name":"N"}}'),
  },
  {
    name: 'reviews from the second subgraph, and a list of non-null objects',
    query: '{ book { id reviews { body stars } } topReviews { body } }',
    input: {
      book: {
        id: '1',
        reviews: [
          { body: 'b', stars: 5 },
          { body: null, stars: 1 },
        ],
      },
      topReviews: [{ body: 'x' }, { body: 'y', stars: 3 }],
    },
  },
  // Stock asserts on malformed subgraph data; the port must throw the same errors.
  {
    name: 'a non-list value for a list',
    query: '{ book { tags } }',
    input: { book: { tags: 'a' } },
    check: throws('Invalid non-list value a'),
  },
  {
    name: 'a non-object value for an object',
    query: '{ book { title } }',
    input: { book: 'x' },
    check: throws('Invalid non-object value x'),
  },
  {
    name: 'a non-string __typename on an object',
    query: '{ book { title } }',
    input: { book: { __typename: 5 } },
    check: throws('Invalid non-string value 5 for __typename at book'),
  },
  {
    name: 'a non-string __typename before a fragment',
    query: '{ ... on Query { flag } }',
    input: { __typename: 5, flag: true },
    check: throws('Got unexpected value for __typename: 5'),
  },
  { name: 'an undefined list element', query: '{ names }', input: { names: ['a', undefined] }, check: throws('Should not pass undefined') },
];

describe('result shaping on a supergraph with interfaces, unions, enums and custom scalars', () => {
  const schema = Supergraph.build(supergraphOf({ catalog: CATALOG, reviews: REVIEWS })).apiSchema();

  for (const testCase of CASES) {
    it(testCase.name, () => {
      const stock = expectSame(operationOf(schema, testCase.query), testCase.input, testCase.variables);
      testCase.check?.(stock);
    });
  }

  it('compiles each selection set once and reuses it across calls with other inputs and variables', () => {
    const operation = operationOf(schema, 'query Q($s: Boolean!) { nodes { id ... on Book { title @skip(if: $s) } } }');
    const inputs = [
      { nodes: [{ __typename: 'Book', id: '1', title: 't' }] },
      { nodes: [{ __typename: 'Movie', id: '2' }, { __typename: 'Nope' }] },
      { nodes: null },
    ];
    for (const s of [true, false]) for (const input of inputs) expectSame(operation, input, { s });
  });

  it('agrees on 300 seeded random inputs, valid and damaged', () => {
    const operation = operationOf(schema, FUZZ_QUERY);
    let threw = 0;
    let withErrors = 0;
    for (let seed = 1; seed <= 300; seed++) {
      const random = prng(seed);
      const input = generate(operation.selectionSet, schema.schemaDefinition.rootType('query')!, random, 0, undefined);
      const stock = expectSame(operation, input, { s: random() < 0.5, i: random() < 0.5 });
      if (stock.threw) threw++;
      if (stock.errors?.length) withErrors++;
    }
    expect(threw).toBeLessThan(30);
    expect(withErrors).toBeGreaterThan(100);
  });
});

const FUZZ_QUERY = `
  query Fuzz($s: Boolean = false, $i: Boolean = true) {
    __typename
    book { ...BookAll }
    requiredBook { id title kind: __typename }
    nodes { __typename id ... on Named { name } ... on Book { ...BookAll } ... on Author { born books { id title } } k: __typename }
    media { ... on Book { title author { name } } ... on Movie { duration status cast { id name } } ... on Node @include(if: $i) { id } }
    search { __typename ... on Node { id } ... on Named { name @skip(if: $s) } ... on Book { related { ... on Book { id } ... on Movie { id duration } } } }
    scores matrix statuses flag count ratio json when ids names status
  }
  fragment BookAll on Book { id title pages rating status available tags published meta isbn author { id name active } related { __typename ... on Node { id } } reviews { body stars } t: title }
`;

const MISSING = Symbol('missing');

/** Random subgraph-like data for a selection set: mostly valid, with nulls, missing keys, wrong leaves and odd __typename. */
function generate(
  selectionSet: SelectionSet,
  type: CompositeType,
  random: () => number,
  depth: number,
  into: Record<string, any> | undefined,
): Record<string, any> {
  const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)]!;
  const object: Record<string, any> = into ?? {};
  let runtime: CompositeType = type;
  if (!into) {
    const candidates = possibleRuntimeTypes(type);
    runtime = pick(candidates);
    const roll = random();
    if (roll < 0.85) object.__typename = runtime.name;
    else if (roll < 0.9) object.__typename = pick(['Nope', 'Status', 'Book', 'Author', '']);
  } else if (typeof into.__typename === 'string') {
    const named = type.schema().type(into.__typename);
    if (named && isCompositeType(named)) runtime = named;
  }
  for (const selection of selectionSet.selections()) {
    if (selection.kind === 'FieldSelection') {
      const field = selection.element;
      const responseName = field.responseName();
      if (field.definition.isSchemaIntrospectionField()) continue;
      if (field.name === typenameFieldName) {
        if (responseName !== typenameFieldName && random() < 0.7)
          object[responseName] = random() < 0.9 ? runtime.name : pick(['Nope', 'Named']);
        continue;
      }
      if (responseName in object && selection.selectionSet) {
        fill(object[responseName], field.definition.type!, selection.selectionSet, random, depth + 1);
        continue;
      }
      const value = valueOf(field.definition.type!, selection.selectionSet, random, depth + 1);
      if (value !== MISSING) object[responseName] = value;
    } else {
      const condition = selection.element.typeCondition;
      if (!condition || isSubtype(condition, runtime) || random() < 0.1)
        generate(selection.selectionSet, condition ?? type, random, depth, object);
    }
  }
  return object;
}

function fill(existing: unknown, type: Type, selectionSet: SelectionSet, random: () => number, depth: number): void {
  if (existing === null || typeof existing !== 'object') return;
  const named = isNonNullType(type) ? type.ofType : type;
  if (isListType(named)) {
    if (Array.isArray(existing)) for (const element of existing) fill(element, named.ofType, selectionSet, random, depth + 1);
  } else if (isCompositeType(named) && !Array.isArray(existing)) {
    generate(selectionSet, named, random, depth, existing as Record<string, any>);
  }
}

function valueOf(type: Type, selectionSet: SelectionSet | undefined, random: () => number, depth: number): unknown {
  const roll = random();
  if (roll < 0.05 || depth > 6) return null;
  if (roll < 0.07) return MISSING;
  if (isNonNullType(type)) return valueOf(type.ofType, selectionSet, random, depth);
  if (isListType(type))
    return Array.from({ length: Math.floor(random() * 4) }, () => valueOf(type.ofType, selectionSet, random, depth + 1)).map((v) =>
      v === MISSING ? null : v,
    );
  if (isCompositeType(type)) return generate(selectionSet!, type, random, depth, undefined);
  if (random() < 0.1) {
    const wrong = ['x', 1.5, 1, true, {}, [], 'UNKNOWN', 1e21, -0, 'ACTIVE'];
    return wrong[Math.floor(random() * wrong.length)];
  }
  if (isCustomScalarType(type)) return random() < 0.5 ? { at: Math.floor(random() * 1e6) } : 'opaque';
  if (isEnumType(type)) return type.values[Math.floor(random() * type.values.length)]!.name;
  switch (type.name) {
    case 'Int':
      return Math.floor(random() * 2000) - 1000;
    case 'Float':
      return random() * 100;
    case 'Boolean':
      return random() < 0.5;
    case 'ID':
      return random() < 0.5 ? String(Math.floor(random() * 100)) : Math.floor(random() * 100);
    default:
      return `s${Math.floor(random() * 100)}`;
  }
}
