import { readdirSync, readFileSync } from 'node:fs';
import { composeServices } from '@apollo/composition';
import { Kind, parse, type OperationDefinitionNode } from 'graphql';
import { describe, expect, it } from 'vitest';
import { CostModel, type CostOptions } from '../src/demand-control/index.ts';

/** Composes one subgraph into a supergraph, as `npm run compose` does, so the model reads what composition really writes. */
function supergraphOf(subgraphSdl: string): string {
  const result = composeServices([{ name: 'library', url: 'http://library.invalid/graphql', typeDefs: parse(subgraphSdl) }]);
  if (result.errors) throw new Error(result.errors.map(({ message }) => message).join('\n'));
  return result.supergraphSdl;
}

/**
 * Apollo's documented example (the book schema of the demand-control page), grown with what the other
 * rules need: a connection, abstract types, weighted arguments, input fields and mutations.
 */
const LIBRARY = `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.11", import: ["@key", "@cost", "@listSize"])

  type Query {
    book(id: ID): Book
    bestsellers: [Book] @listSize(assumedSize: 5)
    newestAdditions(after: ID, limit: Int!): [Book] @listSize(slicingArguments: ["limit"])
    shelves: [Shelf]
    books(first: Int = 20, after: String): BookConnection! @listSize(slicingArguments: ["first"], sizedFields: ["edges"])
    bookOfTheDay: Book @cost(weight: 20)
    rank(region: String @cost(weight: 3)): Int
    reviewCount(filter: ReviewFilter): Int
    media(id: ID!): Media
    publication(id: ID!): Publication
  }

  type Mutation {
    addBook(input: BookInput!): Book
    printBook(id: ID!): Book @cost(weight: 50)
  }

  type Book implements Media @key(fields: "id") {
    id: ID!
    title: String
    wordCount: Int @cost(weight: 2)
    creator: Author
    author: Author
    publisher: Publisher
    reviews(first: Int = 10): [Review] @listSize(slicingArguments: ["first"])
  }

  type Magazine implements Media @key(fields: "id") {
    id: ID!
    creator: Author
    editor: Author
    issues: [Issue] @listSize(assumedSize: 12)
  }

  interface Media {
    id: ID!
    creator: Author
  }

  union Publication = Book | Magazine

  type Issue { number: Int }
  type Author { name: String portrait: Image }
  type Image { url: String }
  type Publisher { name: String address: Address }
  type Address @cost(weight: 5) { zipCode: Int! }
  type Review { stars: Int author: Author }
  type Shelf { label: String }

  type BookConnection {
    edges: [BookEdge]
    pageInfo: PageInfo!
  }
  type BookEdge { cursor: String node: Book }
  type PageInfo { hasNextPage: Boolean! }

  input ReviewFilter {
    minStars: Int
    text: String @cost(weight: 15)
  }

  input BookInput { title: String! }
`;

const library = CostModel.fromSupergraph(supergraphOf(LIBRARY));

function estimate(query: string, variables: Record<string, unknown> = {}, model = library): number {
  return model.prepare(parse(query)).estimate(variables);
}

function actual(query: string, data: unknown, variables: Record<string, unknown> = {}, model = library): number {
  return model.prepare(parse(query)).actual(data, variables);
}

const BOOK_QUERY = `
  query BookQuery {
    book(id: 1) {
      title
      author { name }
      publisher { name address { zipCode } }
    }
  }
`;

describe('the cost of an operation (Apollo demand control, IBM cost spec)', () => {
  it("charges 1 per object and nothing for scalars, so Apollo's BookQuery costs 4 on a schema without weights", () => {
    const unweighted = CostModel.fromSupergraph(supergraphOf(LIBRARY.replace('type Address @cost(weight: 5)', 'type Address')));
    expect(estimate(BOOK_QUERY, {}, unweighted)).toBe(4);
  });

  it('weighs every field returning a type with @cost by that weight: BookQuery costs 8 once Address weighs 5', () => {
    expect(estimate(BOOK_QUERY)).toBe(8);
  });

  it("multiplies a list's selection by its assumedSize: 5 bestsellers cost 40", () => {
    expect(estimate('{ bestsellers { title author { name } publisher { name address { zipCode } } } }')).toBe(40);
  });

  it('sizes a list by its slicing argument given as a literal: 3 newest additions cost 24, 7 cost 56', () => {
    const newest = (limit: number) =>
      `{ newestAdditions(limit: ${limit}) { title author { name } publisher { name address { zipCode } } } }`;
    expect(estimate(newest(3))).toBe(24);
    expect(estimate(newest(7))).toBe(56);
  });

  it("sizes a list by its slicing argument given as a variable, the operation's default standing in for a missing one", () => {
    const query = 'query Newest($limit: Int! = 2) { newestAdditions(limit: $limit) { author { name } } }';
    expect(estimate(query, { limit: 7 })).toBe(14);
    expect(estimate(query, {})).toBe(4);
  });

  it("sizes a list by its slicing argument's schema default when the operation leaves the argument out", () => {
    expect(estimate('{ books { edges { node { title } } } }')).toBe(1 + 20 * 2);
  });

  it('assumes the default list size for a list nothing sizes, 10 unless configured', () => {
    expect(estimate('{ shelves { label } }')).toBe(10);
    const options: CostOptions = { defaultListSize: 3 };
    expect(estimate('{ shelves { label } }', {}, CostModel.fromSupergraph(supergraphOf(LIBRARY), options))).toBe(3);
  });

  it("hands a connection's slicing argument down to its sizedFields: 5 edges of books, each with its node and author", () => {
    expect(estimate('{ books(first: 5) { edges { cursor node { title author { name } } } pageInfo { hasNextPage } } }')).toBe(
      1 + 5 * 3 + 1,
    );
  });

  it('multiplies nested lists: 5 books with 4 reviews each', () => {
    expect(estimate('{ books(first: 5) { edges { node { reviews(first: 4) { author { name } } } } } }')).toBe(
      1 + 5 * (1 + 1 + 4 * (1 + 1)),
    );
  });

  it("uses a field's @cost instead of its type's default weight, for objects and scalars alike", () => {
    expect(estimate('{ bookOfTheDay { title } }')).toBe(20);
    expect(estimate('{ book(id: 1) { wordCount } }')).toBe(1 + 2);
  });

  it("adds an argument's @cost when the operation gives the argument a value", () => {
    expect(estimate('{ rank }')).toBe(0);
    expect(estimate('{ rank(region: "EU") }')).toBe(3);
    expect(estimate('query Rank($region: String) { rank(region: $region) }', { region: 'EU' })).toBe(3);
    expect(estimate('query Rank($region: String) { rank(region: $region) }', { region: null })).toBe(0);
  });

  it('weighs an input object 1 plus the @cost of the input fields it is given, literal or variable', () => {
    expect(estimate('{ reviewCount(filter: { minStars: 3 }) }')).toBe(1);
    expect(estimate('{ reviewCount(filter: { minStars: 3, text: "gripping" }) }')).toBe(16);
    expect(estimate('query Count($filter: ReviewFilter) { reviewCount(filter: $filter) }', { filter: { text: 'gripping' } })).toBe(16);
    expect(estimate('query Count($text: String) { reviewCount(filter: { text: $text }) }', { text: 'gripping' })).toBe(16);
  });

  it("charges 10 for each root field of a mutation, on top of the field's own cost", () => {
    expect(estimate('mutation { addBook(input: { title: "Dune" }) { title } }')).toBe(10 + 1 + 1);
    expect(estimate('mutation { printBook(id: 1) { title } }')).toBe(10 + 50);
    expect(estimate('mutation { a: printBook(id: 1) { title } b: printBook(id: 2) { title } }')).toBe(2 * (10 + 50));
  });

  it('takes the dearest member of a union when fragments select differently per member', () => {
    const query = `{
      publication(id: 1) {
        ... on Book { author { name } publisher { address { zipCode } } }
        ... on Magazine { editor { name } }
      }
    }`;
    expect(estimate(query)).toBe(1 + Math.max(1 + 1 + 5, 1));
  });

  it("adds an interface's own fields to every member and the dearest member's fragments once", () => {
    const query = `{
      media(id: 1) {
        creator { name }
        ... on Book { publisher { address { zipCode } } }
        ... on Magazine { issues { number } }
        ... on Media { id }
      }
    }`;
    expect(estimate(query)).toBe(1 + 1 + Math.max(1 + 5, 12));
  });

  it('counts a named fragment once per spread', () => {
    const query = `
      query { a: book(id: 1) { ...Credits } b: book(id: 2) { ...Credits ...Credits } }
      fragment Credits on Book { author { name } publisher { name } }
    `;
    expect(estimate(query)).toBe(1 + 2 + (1 + 2 + 2));
  });

  it('scores a fragment spread into a connection with the size each connection hands down', () => {
    const query = `
      query { few: books(first: 2) { ...Titles } many: books(first: 5) { ...Titles } }
      fragment Titles on BookConnection { edges { node { title } } }
    `;
    expect(estimate(query)).toBe(1 + 2 * 2 + (1 + 5 * 2));
  });

  it('scores each fragment once per estimate however often it is spread, so fragments doubling at every level stay cheap', () => {
    const levels = 20;
    const fragments = ['fragment Level0 on Book { author @include(if: $withAuthor) { name } }'];
    for (let level = 1; level <= levels; level++)
      fragments.push(`fragment Level${level} on Book { ...Level${level - 1} ...Level${level - 1} }`);
    const prepared = library.prepare(
      parse(`query Doubling($withAuthor: Boolean!) { book(id: 1) { ...Level${levels} } } ${fragments.join('\n')}`),
    );
    let reads = 0;
    const variables = new Proxy(
      { withAuthor: true },
      {
        get(target, name, receiver) {
          if (name === 'withAuthor') reads += 1;
          return Reflect.get(target, name, receiver);
        },
      },
    );
    expect(prepared.estimate(variables)).toBe(1 + 2 ** levels);
    expect(reads).toBe(1);
    expect(prepared.actual({ book: { author: { name: 'Herbert' } } }, variables)).toBe(2);
  });

  it('terminates on fragments that spread each other, which validation would have refused', () => {
    const query = `
      query { book(id: 1) { ...A } }
      fragment A on Book { ...B title }
      fragment B on Book { ...A author { name } }
    `;
    expect(Number.isFinite(estimate(query))).toBe(true);
    expect(actual(query, { book: { title: 'Dune', author: { name: 'Herbert' } } })).toBe(2);
  });

  it('leaves out what @skip and @include leave out, reading their variables', () => {
    const query = `query Book($withAuthor: Boolean!, $noPublisher: Boolean!) {
      book(id: 1) {
        author @include(if: $withAuthor) { name }
        publisher @skip(if: $noPublisher) { address { zipCode } }
        ... on Book @include(if: $withAuthor) { creator { name } }
        reviews(first: 3) @skip(if: true) { stars }
      }
    }`;
    expect(estimate(query, { withAuthor: true, noPublisher: false })).toBe(1 + 1 + (1 + 5) + 1);
    expect(estimate(query, { withAuthor: false, noPublisher: false })).toBe(1 + (1 + 5));
    expect(estimate(query, { withAuthor: false, noPublisher: true })).toBe(1);
  });

  it('charges nothing for introspection', () => {
    expect(
      estimate('{ __typename __schema { types { name fields { name } } } __type(name: "Book") { name } book(id: 1) { __typename } }'),
    ).toBe(1);
  });

  it('scores the operation named, and refuses a name the document does not hold', () => {
    const document = parse('query Cheap { rank } query Dear { bestsellers { title } }');
    expect(library.prepare(document, 'Dear').estimate({})).toBe(5);
    expect(() => library.prepare(document, 'Missing')).toThrow(
      expect.objectContaining({ extensions: { code: 'OPERATION_RESOLUTION_FAILURE', http: { status: 400 } } }),
    );
    expect(() => library.prepare(document)).toThrow(
      expect.objectContaining({ extensions: { code: 'OPERATION_RESOLUTION_FAILURE', http: { status: 400 } } }),
    );
  });
});

describe('reading the cost directives however the supergraph names them', () => {
  it('follows @cost and @listSize imported under other names', () => {
    const renamed = LIBRARY.replace('"@cost", "@listSize"', '{ name: "@cost", as: "@weight" }, { name: "@listSize", as: "@size" }')
      .replaceAll('@cost(', '@weight(')
      .replaceAll('@listSize(', '@size(');
    const supergraph = supergraphOf(renamed);
    expect(supergraph).toContain('{name: "@cost", as: "@weight"}');
    expect(estimate(BOOK_QUERY, {}, CostModel.fromSupergraph(supergraph))).toBe(8);
    expect(estimate('{ bestsellers { title } }', {}, CostModel.fromSupergraph(supergraph))).toBe(5);
  });

  it('follows a cost spec linked under another namespace, as @ns and @ns__listSize', () => {
    const supergraph = supergraphOf(LIBRARY)
      .replace(
        '@link(url: "https://specs.apollo.dev/cost/v0.1", import: ["@listSize"])',
        '@link(url: "https://specs.apollo.dev/cost/v0.1", as: "demand")',
      )
      .replaceAll('@cost(', '@demand(')
      .replaceAll('@listSize(', '@demand__listSize(');
    expect(supergraph).toContain('@demand__listSize(assumedSize: 5)');
    expect(estimate(BOOK_QUERY, {}, CostModel.fromSupergraph(supergraph))).toBe(8);
    expect(estimate('{ bestsellers { title } }', {}, CostModel.fromSupergraph(supergraph))).toBe(5);
  });

  it('reads a plain schema written to the IBM spec, whose weights are strings', () => {
    const plain = CostModel.fromSupergraph(`
      type Query { users(max: Int): [User] @listSize(slicingArguments: ["max"]) }
      type User { name: String age: Int @cost(weight: "2.0") }
    `);
    expect(estimate('{ users(max: 4) { name age } }', {}, plain)).toBe(4 * (1 + 2));
  });

  it('ignores a directive named @cost in a supergraph that does not link the cost spec', () => {
    const withoutCostSpec = LIBRARY.replace('"@key", "@cost", "@listSize"', '"@key"').replace(/@(cost|listSize)\([^)]*\)/g, '');
    const supergraph = supergraphOf(withoutCostSpec).replace('type Address', 'type Address @cost(weight: 5)');
    expect(supergraph).not.toContain('specs.apollo.dev/cost');
    expect(estimate(BOOK_QUERY, {}, CostModel.fromSupergraph(supergraph))).toBe(4);
  });
});

describe('the actual cost of a response', () => {
  it('counts the list items really returned: 2 bestsellers cost less than the 5 estimated', () => {
    const query = '{ bestsellers { title author { name } publisher { name address { zipCode } } } }';
    const book = { title: 'Dune', author: { name: 'Herbert' }, publisher: { name: 'Chilton', address: { zipCode: 19101 } } };
    expect(estimate(query)).toBe(40);
    expect(actual(query, { bestsellers: [book, book] })).toBe(16);
  });

  it('counts the edges a connection returned, not the page size asked for', () => {
    const query = 'query Page($first: Int) { books(first: $first) { edges { node { title } } pageInfo { hasNextPage } } }';
    const data = { books: { edges: [{ node: { title: 'Dune' } }, { node: { title: 'Emma' } }], pageInfo: { hasNextPage: false } } };
    expect(estimate(query, { first: 50 })).toBe(1 + 50 * 2 + 1);
    expect(actual(query, data, { first: 50 })).toBe(1 + 2 * 2 + 1);
  });

  it("scores response keys by alias, weights and arguments included, and a mutation's root field", () => {
    expect(actual('mutation { printed: printBook(id: 1) { wordCount } }', { printed: { wordCount: 1200 } })).toBe(10 + 50 + 2);
    expect(actual('{ reviewCount(filter: { text: "gripping" }) }', { reviewCount: 3 })).toBe(16);
  });

  it('follows __typename to the member a fragment selected', () => {
    const query = `{
      publication(id: 1) {
        __typename
        ... on Book { author { name } publisher { address { zipCode } } }
        ... on Magazine { issues { number } }
      }
    }`;
    expect(actual(query, { publication: { __typename: 'Magazine', issues: [{ number: 1 }, { number: 2 }] } })).toBe(1 + 2);
    expect(
      actual(query, { publication: { __typename: 'Book', author: { name: 'Herbert' }, publisher: { address: { zipCode: 1 } } } }),
    ).toBe(1 + 1 + 1 + 5);
  });

  it('merges a field selected twice, as execution does, and scores it once', () => {
    const query = '{ book(id: 1) { author { name } ...Credits } } fragment Credits on Book { author { name } publisher { name } }';
    expect(actual(query, { book: { author: { name: 'Herbert' }, publisher: { name: 'Chilton' } } })).toBe(3);
    const throughInterface = '{ media(id: 1) { __typename creator { name } ... on Book { creator { portrait { url } } } } }';
    expect(
      actual(throughInterface, { media: { __typename: 'Book', creator: { name: 'Herbert', portrait: { url: 'herbert.png' } } } }),
    ).toBe(3);
    expect(actual(throughInterface, { media: { __typename: 'Magazine', creator: { name: 'Ann' } } })).toBe(2);
  });

  it("never throws on nulls, missing fields, errors' leftovers or data of the wrong shape", () => {
    const query =
      '{ bestsellers { title author { name } reviews { stars author { name } } } book(id: 1) { publisher { address { zipCode } } } }';
    const prepared = library.prepare(parse(query));
    for (const data of [
      null,
      undefined,
      'oops',
      [],
      {},
      { bestsellers: null, book: null },
      { bestsellers: [null, {}], book: { publisher: 'not an object' } },
      { unknown: { deeply: [1, 2] } },
    ]) {
      expect(() => prepared.actual(data, {})).not.toThrow();
    }
    expect(
      prepared.actual(
        { bestsellers: [null, { title: 'Dune', author: null, reviews: [{ stars: 5, author: { name: 'Ann' } }] }], book: null },
        {},
      ),
    ).toBe(1 + 1 + 1);
  });
});

describe('the NexusFlow supergraph', () => {
  const supergraphSdl = readFileSync(new URL('../../schema/nexusflow/supergraph.graphql', import.meta.url), 'utf8');
  const nexusflow = CostModel.fromSupergraph(supergraphSdl);
  const operationsDirectory = new URL('../../clients/web/operations/', import.meta.url);
  const webOperations = readdirSync(operationsDirectory)
    .filter((file) => file.endsWith('.graphql'))
    .flatMap((file) => {
      const document = parse(readFileSync(new URL(file, operationsDirectory), 'utf8'));
      return document.definitions
        .filter((definition): definition is OperationDefinitionNode => definition.kind === Kind.OPERATION_DEFINITION)
        .map((operation) => ({ name: operation.name!.value, prepared: nexusflow.prepare(document, operation.name!.value) }));
    });
  /** The default maximum recommended to the gateway (see the README's demand control section). */
  const recommendedMaximum = 5000;
  /** The largest page the workflows subgraph serves. */
  const largestPage = 100;

  it('estimates every web client operation well below the recommended maximum, at default and at largest page sizes', () => {
    expect(webOperations.length).toBeGreaterThan(20);
    for (const { name, prepared } of webOperations) {
      const atDefaults = prepared.estimate({});
      const atLargestPage = prepared.estimate({ first: largestPage });
      expect(Number.isFinite(atDefaults), name).toBe(true);
      expect(atDefaults, name).toBeLessThanOrEqual(recommendedMaximum / 20);
      expect(atLargestPage, name).toBeLessThanOrEqual(recommendedMaximum / 4);
    }
  });

  it('estimates the deep fan-out through users, workflows and executions far above it', () => {
    const fanOut = parse(
      '{ me { tenant { users { workflows(first: 100) { edges { node { executions(first: 100) { edges { node { id } } } } } } } } } }',
    );
    expect(nexusflow.prepare(fanOut).estimate({})).toBeGreaterThan(recommendedMaximum * 100);
  });

  it('weighs the mutations that start work above plain writes', () => {
    const byName = new Map(webOperations.map(({ name, prepared }) => [name, prepared.estimate({})]));
    expect(byName.get('RunWorkflow')).toBeGreaterThan(byName.get('PauseWorkflow')! + 25);
    expect(byName.get('SendNotification')).toBeGreaterThan(byName.get('MarkAllNotificationsRead')! + 20);
  });

  it('sizes every list field that takes first, last or count by that argument', () => {
    // A page inside a union with typed failures cannot carry @listSize (composition refuses it on a non-list result), so
    // these fields weigh their largest page with @cost instead.
    const weighedByCost = new Set(['Query.integrationMessages']);
    const document = parse(supergraphSdl);
    const unsized: string[] = [];
    for (const definition of document.definitions) {
      if (definition.kind !== Kind.OBJECT_TYPE_DEFINITION || definition.name.value.startsWith('join__')) continue;
      for (const field of definition.fields ?? []) {
        const slicing = (field.arguments ?? [])
          .filter(({ name }) => ['first', 'last', 'count'].includes(name.value))
          .map(({ name }) => name.value);
        if (slicing.length === 0) continue;
        const listSize = field.directives?.find(({ name }) => name.value === 'listSize');
        const slicingArguments = listSize?.arguments?.find(({ name }) => name.value === 'slicingArguments')?.value;
        const declared =
          slicingArguments?.kind === Kind.LIST
            ? slicingArguments.values.map((value) => (value.kind === Kind.STRING ? value.value : ''))
            : [];
        const coordinate = `${definition.name.value}.${field.name.value}`;
        if (weighedByCost.has(coordinate)) {
          expect(
            field.directives?.some(({ name }) => name.value === 'cost'),
            coordinate,
          ).toBe(true);
          continue;
        }
        if (!slicing.every((name) => declared.includes(name))) unsized.push(coordinate);
      }
    }
    expect(unsized).toEqual([]);
  });
});
