import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { operationFromDocument, Supergraph } from '@apollo/federation-internals';
import { QueryPlanner } from '@apollo/query-planner';
import { Kind, parse, print } from 'graphql';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '@nexusflow/kit/core';
import { composeSupergraph } from '@nexusflow/schema-registry';
import { PlannerPool, PlanningFailure } from '../src/execution/planner-pool.ts';
import { SUPPORTED_SUPERGRAPH_FEATURES } from '../src/execution/supergraph.ts';

const SUPERGRAPH = readFileSync(join(import.meta.dirname, '../../schema/nexusflow/supergraph.graphql'), 'utf8');
const OPTIONS = { recursiveSelectionsLimitDisabled: false, nonLocalSelectionsLimitDisabled: false };
const logger = createLogger({ name: 'planner-pool-test', level: 'silent' });

/** Far beyond the gateway's limits, which is why the pool must contain it: tens of seconds of planning. */
const UNBOUNDED = `{ me { ${Array.from({ length: 6000 }, (_, i) => `w${i}: workflows(first: ${i + 1}) { edges { node { id owner { email tenant { name } } executions(first: 2) { edges { node { id } } } } } }`).join(' ')} } }`;

function webOperations(): { name: string; source: string }[] {
  const directory = join(import.meta.dirname, '../../clients/web/operations');
  const document = parse(
    ['auth', 'workflows', 'notifications', 'schedules'].map((file) => readFileSync(join(directory, `${file}.graphql`), 'utf8')).join('\n'),
  );
  const fragments = document.definitions.filter((definition) => definition.kind === Kind.FRAGMENT_DEFINITION);
  return document.definitions.flatMap((definition) =>
    definition.kind === Kind.OPERATION_DEFINITION && definition.name
      ? [{ name: definition.name.value, source: print({ kind: Kind.DOCUMENT, definitions: [definition, ...fragments] }) }]
      : [],
  );
}

/** A one-subgraph supergraph whose only field is `field`. */
const librarySupergraph = (field: string) =>
  composeSupergraph([
    {
      name: 'library',
      url: 'http://127.0.0.1:9/graphql',
      sdl: `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"]) type Query { ${field}: [String!]! }`,
    },
  ]);

async function failureOf(promise: Promise<unknown>): Promise<PlanningFailure> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof PlanningFailure) return error;
    throw error;
  }
  throw new Error('expected planning to fail');
}

describe('planning on worker threads', () => {
  let pool: PlannerPool | undefined;
  afterEach(async () => {
    await pool?.close();
  });

  it('gives every web client operation the plan the planner gives on the main thread', async () => {
    pool = new PlannerPool({ logger });
    const generation = pool.load(SUPERGRAPH);
    const supergraph = Supergraph.build(SUPERGRAPH, { supportedFeatures: SUPPORTED_SUPERGRAPH_FEATURES as Set<string> });
    const planner = new QueryPlanner(supergraph);
    for (const { name, source } of webOperations()) {
      const expected = planner.buildQueryPlan(
        operationFromDocument(supergraph.apiSchema(), parse(source), { operationName: name }),
        OPTIONS,
      );
      expect(await pool.plan({ type: 'plan', generation, source, operationName: name, options: OPTIONS })).toEqual(
        JSON.parse(JSON.stringify(expected)),
      );
    }
  });

  it('abandons a plan that outlives its time, replaces the worker, and plans the next operation', async () => {
    pool = new PlannerPool({ logger, timeoutMs: 3000 });
    const generation = pool.load(SUPERGRAPH);
    const failure = await failureOf(pool.plan({ type: 'plan', generation, source: UNBOUNDED, options: OPTIONS }));
    expect({ reason: failure.reason, message: failure.message, causedByDocument: failure.causedByDocument }).toEqual({
      reason: 'timeout',
      message: 'Planning this operation takes longer than 3000 ms',
      causedByDocument: true,
    });
    const plan = await pool.plan({ type: 'plan', generation, source: '{ me { id email } }', options: OPTIONS });
    expect(plan.node).toMatchObject({ kind: 'Fetch', serviceName: 'auth' });
  });

  it('does not count a worker’s start and supergraph load against a plan’s time limit', async () => {
    // Starting a worker and building the supergraph take far longer than this limit; planning this operation does not.
    pool = new PlannerPool({ logger, timeoutMs: 300 });
    const generation = pool.load(SUPERGRAPH);
    const plan = await pool.plan({ type: 'plan', generation, source: '{ me { id } }', options: OPTIONS });
    expect(plan.node).toMatchObject({ kind: 'Fetch', serviceName: 'auth' });
  });

  it('answers the planner’s own refusal as the document’s fault', async () => {
    pool = new PlannerPool({ logger });
    const generation = pool.load(SUPERGRAPH);
    const failure = await failureOf(pool.plan({ type: 'plan', generation, source: '{ nothingLikeThis }', options: OPTIONS }));
    expect({ reason: failure.reason, causedByDocument: failure.causedByDocument }).toEqual({ reason: 'planner', causedByDocument: true });
  });

  it('refuses at once, as the gateway’s state rather than the document’s, when too many operations wait', async () => {
    pool = new PlannerPool({ logger, maxQueue: 1 });
    const generation = pool.load(SUPERGRAPH);
    const request = { type: 'plan' as const, generation, source: '{ me { id } }', options: OPTIONS };
    // Once its worker is up: the first plan then goes to the worker, the second waits, the third finds the queue full.
    await pool.plan(request);
    const [first, second, third] = [pool.plan(request), pool.plan(request), pool.plan(request)];
    const overloaded = await failureOf(third);
    expect({ reason: overloaded.reason, causedByDocument: overloaded.causedByDocument }).toEqual({
      reason: 'overloaded',
      causedByDocument: false,
    });
    await expect(Promise.all([first, second])).resolves.toHaveLength(2);
  });

  it('plans an operation on the supergraph it was validated against, though two newer ones came while it waited', async () => {
    pool = new PlannerPool({ logger });
    const validatedOn = pool.load(SUPERGRAPH);
    const waiting = pool.plan({ type: 'plan', generation: validatedOn, source: '{ me { id } }', options: OPTIONS });
    pool.load(librarySupergraph('books'));
    const latest = pool.load(librarySupergraph('novels'));

    expect(await waiting).toMatchObject({ node: { kind: 'Fetch', serviceName: 'auth' } });
    expect(await pool.plan({ type: 'plan', generation: latest, source: '{ novels }', options: OPTIONS })).toMatchObject({
      node: { serviceName: 'library' },
    });
  });

  it('lets a superseded supergraph go once nothing waits for it, refusing it afterwards as the moment’s fault', async () => {
    pool = new PlannerPool({ logger });
    const first = pool.load(SUPERGRAPH);
    await pool.plan({ type: 'plan', generation: first, source: '{ me { id } }', options: OPTIONS });
    const second = pool.load(librarySupergraph('books'));
    pool.load(librarySupergraph('novels'));

    const refused = await failureOf(pool.plan({ type: 'plan', generation: first, source: '{ me { id } }', options: OPTIONS }));
    expect({ reason: refused.reason, causedByDocument: refused.causedByDocument }).toEqual({
      reason: 'superseded',
      causedByDocument: false,
    });
    // The one before the current stays, for operations validated just before the switch.
    expect(await pool.plan({ type: 'plan', generation: second, source: '{ books }', options: OPTIONS })).toMatchObject({
      node: { serviceName: 'library' },
    });
  });

  it('keeps one supergraph older than the previous for operations waiting on it, refusing those of older ones', async () => {
    pool = new PlannerPool({ logger });
    const oldest = pool.load(SUPERGRAPH);
    const onTheOldest = pool.plan({ type: 'plan', generation: oldest, source: '{ me { id } }', options: OPTIONS });
    const older = pool.load(librarySupergraph('books'));
    const onTheOlder = pool.plan({ type: 'plan', generation: older, source: '{ books }', options: OPTIONS });
    pool.load(librarySupergraph('novels'));
    const latest = pool.load(librarySupergraph('poems'));

    const refused = await failureOf(onTheOldest);
    expect({ reason: refused.reason, causedByDocument: refused.causedByDocument }).toEqual({
      reason: 'superseded',
      causedByDocument: false,
    });
    expect(await onTheOlder).toMatchObject({ node: { serviceName: 'library' } });
    expect(await pool.plan({ type: 'plan', generation: latest, source: '{ poems }', options: OPTIONS })).toMatchObject({
      node: { serviceName: 'library' },
    });
  });

  it('keeps planning against the previous supergraph for operations validated against it', async () => {
    pool = new PlannerPool({ logger });
    const before = pool.load(SUPERGRAPH);
    const library = composeSupergraph([
      {
        name: 'library',
        url: 'http://127.0.0.1:9/graphql',
        sdl: 'extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"]) type Query { books: [String!]! }',
      },
    ]);
    const after = pool.load(library);
    expect(after).toBe(before + 1);
    expect(await pool.plan({ type: 'plan', generation: before, source: '{ me { id } }', options: OPTIONS })).toMatchObject({
      kind: 'QueryPlan',
    });
    expect((await failureOf(pool.plan({ type: 'plan', generation: after, source: '{ me { id } }', options: OPTIONS }))).reason).toBe(
      'planner',
    );
    expect(await pool.plan({ type: 'plan', generation: after, source: '{ books }', options: OPTIONS })).toMatchObject({
      node: { serviceName: 'library' },
    });
  });
});
