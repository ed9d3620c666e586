import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSchema, Kind, type DocumentNode } from 'graphql';
import { describe, expect, it } from 'vitest';
import { graphNames } from '@nexusflow/topology';
import * as webClient from '@nexusflow/web-client';
import { documentsInSource, rootFieldsOf, rootFieldsSentUnder } from './support/graphql-documents.ts';
import { rootOperationsOf } from './support/schema-operations.ts';

const repositoryRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Where tests send operations through the gateway, whose API schema this check reads. Subgraph tests call one subgraph
 * (often only to see malformed input refused), so they do not count as reaching an operation of the API, except a
 * subgraph's `test/through-the-gateway.test.ts`, which does what its name says.
 */
const END_TO_END_TEST_DIRECTORIES = ['test', 'gateway/test', 'gateway/src', 'subgraphs'];
const THROUGH_THE_GATEWAY = /^subgraphs\/[^/]+\/[^/]+\/test\/through-the-gateway\.test\.ts$/;

/**
 * The tenant-isolation test sends every operation as a stranger on purpose; counting it would make this check pass for
 * any new field, so an operation needs a test of its own behaviour besides its isolation case.
 */
const NOT_BEHAVIOUR_TESTS = new Set(['test/integration/tenant-isolation.test.ts']);

/** Test files and their support code; the gateway's own sources are not tests, whatever documents they hold. */
function isBehaviourTest(file: string): boolean {
  if (file.startsWith('subgraphs/')) return THROUGH_THE_GATEWAY.test(file);
  const isTestCode = file.endsWith('.test.ts') || /^(test|gateway\/test)\//.test(file);
  return isTestCode && !NOT_BEHAVIOUR_TESTS.has(file);
}

const typedDocuments = new Map(
  Object.entries(webClient).filter((entry): entry is [string, DocumentNode] => {
    const value: unknown = entry[1];
    return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === Kind.DOCUMENT;
  }),
);

describe('operation coverage', () => {
  it('finds the root fields of inline documents, interpolated constants and typed documents', () => {
    const text = [
      "const RESULT = '{ __typename ... on Schedule { id } }';",
      'const a = `mutation ($id: ID!) { deleteSchedule(id: $id) ${RESULT} }`;',
      "const b = { query: 'query Q { me { id } ...Rest } fragment Rest on Query { schedules { id } }' };",
      'const c = `subscription { ${dynamic}(id: 1) { id } }`;',
      "postGraphQL(url, LogoutDocument, {}); const notGraphQL = 'query the database';",
    ].join('\n');
    const logout = typedDocuments.get('LogoutDocument')!;
    const documents = documentsInSource('example.ts', text, new Map([['LogoutDocument', logout]]));
    const roots = documents.flatMap((document) =>
      rootFieldsOf(document, { query: 'Query', mutation: 'Mutation', subscription: 'Subscription' }),
    );
    expect(roots.sort()).toEqual(['Mutation.deleteSchedule', 'Mutation.logout', 'Query.me', 'Query.schedules']);
  });

  it.each(graphNames)(
    'has a test sending every query, mutation and subscription of the %s API schema through the gateway',
    async (graph) => {
      const apiSchema = join(repositoryRoot, 'schema', graph, 'api-schema.graphql');
      const schema = buildSchema(await readFile(apiSchema, 'utf8'));
      const operations = rootOperationsOf(apiSchema);
      const rootTypes = {
        query: schema.getQueryType()!.name,
        mutation: schema.getMutationType()?.name ?? 'Mutation',
        subscription: schema.getSubscriptionType()?.name ?? 'Subscription',
      };
      const sent = await rootFieldsSentUnder(repositoryRoot, END_TO_END_TEST_DIRECTORIES, typedDocuments, rootTypes, isBehaviourTest);

      expect(operations.length).toBeGreaterThan(0);
      const untested = operations.filter((operation) => !sent.has(operation));
      expect(
        untested,
        `no test sends ${untested.join(', ')} through the gateway: add a test of its behaviour under test/integration`,
      ).toEqual([]);
    },
  );
});
