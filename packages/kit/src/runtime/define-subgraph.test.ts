import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { EntitySchema } from '@mikro-orm/core';
import type { GraphQLResolveInfo } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parseConfig, subgraphEnv, toSubgraphConfig, type Environment } from '../platform/config.ts';
import { sendJson } from '../platform/http.ts';
import { Role, signIdentity, type Identity } from '../platform/identity.ts';
import { defineSubgraph, type RunningSubgraph, type RunningWorker, type SubgraphContext, type SubgraphRuntime } from './subgraph.ts';
import { createTempDirectory } from '../testing/databases.ts';
import { postGraphQL } from '../testing/graphql-client.ts';

const SDL = `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])

type Greeting @key(fields: "id") {
  id: ID!
  text: String!
}

type Query {
  greeting(id: ID!): Greeting
}
`;

const Probe = new EntitySchema({ name: 'Probe', properties: { id: { type: 'number', primary: true } } });

const loadGreetingsConfig = (env: Environment = {}) => ({
  subgraph: toSubgraphConfig('greetings', parseConfig(z.object(subgraphEnv({ port: 0 })), env)),
  salutation: env.SALUTATION ?? 'Hello',
});
type GreetingsConfig = ReturnType<typeof loadGreetingsConfig>;

interface GreetingServices {
  greet(id: string): { id: string; text: string };
}
type GreetingsContext = SubgraphContext<Record<string, never>, GreetingServices>;

const createGreetingServices = (_runtime: SubgraphRuntime, config: GreetingsConfig): GreetingServices => ({
  greet: (id) => ({ id, text: `${config.salutation}, ${id}` }),
});

/** Shaped as graphql-codegen's `typescript-resolvers` types them for this context, and passed as they are. */
const resolvers = {
  Query: {
    greeting: (_parent: unknown, args: { id: string }, context: GreetingsContext, _info: GraphQLResolveInfo) =>
      context.services.greet(args.id),
  },
  Greeting: {
    __resolveReference: (reference: { id: string }, context: GreetingsContext, _info: GraphQLResolveInfo) =>
      context.services.greet(reference.id),
  },
};

describe('a subgraph defined by defineSubgraph', () => {
  const caller: Identity = { kind: 'user', userId: crypto.randomUUID(), tenantId: crypto.randomUUID(), roles: [Role.Member] };
  let dataDir: Awaited<ReturnType<typeof createTempDirectory>>;
  let env: Environment;
  let greetings: ReturnType<typeof defineGreetings>;
  let running: RunningSubgraph<GreetingServices>;
  let stopped = false;
  /** What the worker did, in order. */
  const workerLog: string[] = [];

  const defineGreetings = (schema: URL) =>
    defineSubgraph({
      name: 'greetings',
      schema,
      config: loadGreetingsConfig,
      entities: [Probe],
      migrations: [],
      resolvers,
      createLoaders: () => ({}),
      createServices: createGreetingServices,
      routes: (services) => [
        (_req, res, url) => {
          if (url.pathname !== '/hello') return false;
          sendJson(res, 200, services.greet('route'));
          return true;
        },
      ],
      worker: {
        start: async (runtime, services) => {
          workerLog.push(`started as ${runtime.logger.bindings().name}: ${services.greet('worker').text}`);
          return { close: async () => void workerLog.push('stopped') };
        },
      },
    });

  const ask = (query: string, variables: Record<string, unknown> = {}) =>
    postGraphQL(running.graphqlUrl, query, { variables, headers: signIdentity(caller, running.config.internalSecret) });

  beforeAll(async () => {
    dataDir = await createTempDirectory('define-subgraph');
    const schemaFile = join(dataDir.path, 'schema.graphql');
    await writeFile(schemaFile, SDL);
    greetings = defineGreetings(pathToFileURL(schemaFile));
    env = { PORT: '0', DATA_DIR: dataDir.path, LOG_LEVEL: 'silent', SALUTATION: 'Good morning' };
    running = await greetings.start(env);
  });

  afterAll(async () => {
    if (!stopped) await running?.close();
    await dataDir?.remove();
  });

  it('serves its schema file to the gateway as its SDL', async () => {
    const response = await ask('{ _service { sdl } }');

    expect(response.errors).toBeUndefined();
    expect(response.data?._service).toEqual({ sdl: expect.stringContaining('type Greeting') });
  });

  it('resolves entities with the services it created from its configuration', async () => {
    const response = await ask(
      'query ($representations: [_Any!]!) { _entities(representations: $representations) { ... on Greeting { text } } }',
      {
        representations: [{ __typename: 'Greeting', id: 'Ada' }],
      },
    );

    expect(response.data).toEqual({ _entities: [{ text: 'Good morning, Ada' }] });
  });

  it('answers its own queries with the same services', async () => {
    const response = await ask('{ greeting(id: "Grace") { id text } }');

    expect(response.data).toEqual({ greeting: { id: 'Grace', text: 'Good morning, Grace' } });
  });

  it('refuses text PostgreSQL cannot store, NUL in a variable or a literal and half a surrogate pair, with BAD_USER_INPUT', async () => {
    const refused = [
      await ask('query ($id: ID!) { greeting(id: $id) { text } }', { id: 'Ada\u0000' }),
      await ask('{ greeting(id: "Ada\\u0000") { text } }'),
      await ask('{ greeting(id: "Ada\\u{0}") { text } }'),
    ];
    const viaGet = await fetch(`${running.graphqlUrl}?query=${encodeURIComponent('{ greeting(id: "\\u0000") { text } }')}`, {
      headers: { ...signIdentity(caller, running.config.internalSecret), 'apollo-require-preflight': 'true' },
    });

    for (const response of refused) {
      expect(response.status).toBe(400);
      expect(response.errors).toEqual([
        { message: 'Text may not contain the NUL character (U+0000)', extensions: { code: 'BAD_USER_INPUT' } },
      ]);
    }
    expect(viaGet.status).toBe(400);
    const halfAPair = await ask('query ($id: ID!) { greeting(id: $id) { text } }', { id: 'Ada \uD800 and \uDC00' });
    expect({ status: halfAPair.status, errors: halfAPair.errors }).toEqual({
      status: 400,
      errors: [
        {
          message: 'Text may not contain half of a UTF-16 surrogate pair (U+D800 to U+DFFF alone)',
          extensions: { code: 'BAD_USER_INPUT' },
        },
      ],
    });
    expect((await ask('query ($id: ID!) { greeting(id: $id) { text } }', { id: 'Ada \uD83D\uDE00' })).data).toEqual({
      greeting: { text: 'Good morning, Ada \uD83D\uDE00' },
    });
    expect((await ask('{ greeting(id: "Ada \\\\u0000 is text") { text } }')).data).toEqual({
      greeting: { text: 'Good morning, Ada \\u0000 is text' },
    });
  });

  it('serves its own HTTP routes on the same port, with its services, and no identity asked for', async () => {
    const response = await fetch(`${running.url}/hello`);

    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ id: 'route', text: 'Good morning, route' });
  });

  it('starts its worker without the API, on services made from the configuration it is given, and stops it', async () => {
    const workerData = await createTempDirectory('define-subgraph-worker');
    let worker: RunningWorker | undefined;
    try {
      worker = await greetings.startWorker({ ...env, DATA_DIR: workerData.path, SALUTATION: 'Hi' });
      const ready = await fetch(`${worker.url}/health/ready`);
      const graphql = await fetch(`${worker.url}/graphql`, { method: 'POST' });
      expect(workerLog).toEqual(['started as greetings-worker: Hi, worker']);
      expect(ready.status).toBe(200);
      expect(graphql.status).toBe(404);
    } finally {
      await worker?.close();
      await workerData.remove();
    }
    expect(workerLog).toEqual(['started as greetings-worker: Hi, worker', 'stopped']);
  });

  it("starts no work in a worker whose port is taken: its start-up would take over the live process's work", async () => {
    const workerData = await createTempDirectory('define-subgraph-worker-taken');
    const before = [...workerLog];
    try {
      const port = new URL(running.url).port;
      await expect(greetings.startWorker({ ...env, DATA_DIR: workerData.path, PORT: port })).rejects.toThrow(/EADDRINUSE/);
      expect(workerLog).toEqual(before);
    } finally {
      await workerData.remove();
    }
  });

  it('stops listening once closed', async () => {
    const { graphqlUrl } = running;
    await running.close();
    stopped = true;

    await expect(fetch(graphqlUrl, { method: 'POST' })).rejects.toThrow();
  });
});

describe('defineSubgraph, given resolvers that expect another context than the one it makes', () => {
  // The type checker makes the assertion (`npm run typecheck` covers test files): the definition is never run.
  it('does not compile', () => {
    void (() =>
      defineSubgraph({
        name: 'greetings',
        schema: new URL('file:///nowhere/schema.graphql'),
        config: loadGreetingsConfig,
        entities: [],
        migrations: [],
        // @ts-expect-error the resolvers read `services.greet`, which these services do not have
        resolvers,
        createLoaders: () => ({}),
        createServices: (_runtime: SubgraphRuntime, _config: GreetingsConfig) => ({ farewell: 'Goodbye' }),
      }));
  });
});
