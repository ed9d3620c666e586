import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Environment } from '../platform/config.ts';
import { Role, type Identity } from '../platform/identity.ts';
import { STATEMENTS_HEADER, type RunningSubgraph } from '../runtime/subgraph.ts';
import type { GraphQLResponse } from './graphql-client.ts';
import { startSubgraphUnderTest, type SubgraphUnderTest } from './subgraph-under-test.ts';

type Variables = Record<string, unknown>;
/** Who the suite asks as: an OWNER of a tenant of its own. */
type Caller = Extract<Identity, { kind: 'user' }>;

/** An id no UUID column can hold. */
export const MALFORMED_ID = 'x';

export interface MalformedIdCase {
  /** How the test names the operation, e.g. `schedule(id)`. */
  operation: string;
  query: string;
  /** A function when they need the caller, or something only `setUp` creates. */
  variables: Variables | ((caller: Caller) => Variables);
  /** The argument or input field the error must name. */
  field: string;
  /** The refusal expected; `"<field>" must be a UUID` unless given. */
  message?: string;
}

/** What tests added to the suite share with it: its running subgraph and the caller it asks as. */
export interface MalformedIdsSuite<Services> {
  /** Set once the suite's `beforeAll` has run. */
  readonly under: SubgraphUnderTest<Services>;
  readonly caller: Caller;
  ask<T = Variables>(query: string, variables?: Variables): Promise<GraphQLResponse<T>>;
}

export interface MalformedIdsOptions<Services> {
  /** Starts the subgraph from an environment (port, storage, log level are set). */
  start(env: Environment): Promise<RunningSubgraph<Services>>;
  /** Variables the subgraph needs beyond storage, e.g. to keep its background work still. */
  env?: Environment;
  /** Operations given a malformed id, each answered with one BAD_USER_INPUT error naming the field. */
  cases: MalformedIdCase[];
  /**
   * False when some case is refused only after reading what it is asked about (a reference, say): the cases are then
   * checked not to fail in SQL, and their names do not promise that no statement was run.
   */
  refusedBeforeAnyStatement?: boolean;
  /** Fields asked of a reference with a malformed id, inside `... on <Type> { }`, by type name. */
  entities: Record<string, string>;
  /** Creates, once the subgraph runs, what some cases' variables refer to. */
  setUp?(under: SubgraphUnderTest<Services>, caller: Caller): Promise<void>;
  /** Declares further tests of the same running subgraph; their `afterAll` hooks run before it closes (vitest runs the last registered first). */
  furtherTests?(suite: MalformedIdsSuite<Services>): void;
}

/** `A`, `A and B`, `A, B and C`. */
function enumerate(names: string[]): string {
  return names.length < 2 ? names.join('') : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
}

/**
 * Ids are UUIDs: anything else is the client's mistake. Each case is answered with exactly one BAD_USER_INPUT error
 * naming the field, before any statement reaches PostgreSQL as a bad uuid parameter (unless `refusedBeforeAnyStatement`
 * is false) and without logging an error; references with malformed ids resolve to null, without an error or a statement.
 */
export function describeMalformedIds<Services>(serviceName: string, options: MalformedIdsOptions<Services>): void {
  describe(`the ${serviceName} subgraph, given ids that are not UUIDs`, () => {
    let under: SubgraphUnderTest<Services>;
    const caller: Caller = { kind: 'user', userId: randomUUID(), tenantId: randomUUID(), roles: [Role.Owner] };
    const suite: MalformedIdsSuite<Services> = {
      get under() {
        return under;
      },
      caller,
      ask: (query, variables) => under.ask(caller, query, variables),
    };

    beforeAll(async () => {
      under = await startSubgraphUnderTest(`${serviceName}-malformed-ids`, (env) => options.start(env), options.env);
      await options.setUp?.(under, caller);
    });

    afterAll(async () => {
      await under?.close();
    });

    const beforeAnyStatement = options.refusedBeforeAnyStatement ?? true;
    it.each(options.cases)(
      `answers $operation with BAD_USER_INPUT naming "$field", ${beforeAnyStatement ? 'without a statement reaching PostgreSQL' : 'with no SQL error'}`,
      async ({ query, variables, field, message = `"${field}" must be a UUID` }) => {
        const response = await suite.ask(query, typeof variables === 'function' ? variables(caller) : variables);
        expect(response.errors).toEqual([expect.objectContaining({ message, extensions: { code: 'BAD_USER_INPUT', field } })]);
        if (beforeAnyStatement) expect(response.headers.get(STATEMENTS_HEADER)).toBe('0');
        expect(under.loggedErrors).toEqual([]);
      },
    );

    options.furtherTests?.(suite);

    const typenames = Object.keys(options.entities);
    it(`resolves ${enumerate(typenames)} references with malformed ids to null, without an error`, async () => {
      const selections = typenames.map((typename) => `... on ${typename} { ${options.entities[typename]} }`).join(' ');
      const response = await suite.ask<{ _entities: unknown[] }>(
        `query ($representations: [_Any!]!) { _entities(representations: $representations) { ${selections} } }`,
        { representations: typenames.map((__typename) => ({ __typename, id: MALFORMED_ID })) },
      );
      expect(response.errors).toBeUndefined();
      expect(response.data?._entities).toEqual(typenames.map(() => null));
      expect(response.headers.get(STATEMENTS_HEADER)).toBe('0');
      expect(under.loggedErrors).toEqual([]);
    });
  });
}
