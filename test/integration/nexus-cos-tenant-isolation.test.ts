import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Role, signIdentity, type RunningSubgraph } from '@nexusflow/kit';
import { postGraphQL, type GraphQLResponse } from '@nexusflow/kit/testing';
import { servicesOf } from '@nexusflow/topology';
import type { InvoiceGenServices } from '../../subgraphs/nexus-cos/invoice-gen/src/context.ts';
import { STRIPE_WEBHOOK_PATH } from '../../subgraphs/nexus-cos/billing-service/src/webhooks/stripe-events.ts';
import { TEST_PASSWORD, type SignedUp } from '../support/accounts.ts';
import { FakeStripe } from '../support/fake-stripe.ts';
import { tenantOf } from '../support/roles.ts';
import { resolvableEntitiesOf, rootOperationsOf } from '../support/schema-operations.ts';
import { startGraphUnderTest, type GraphUnderTest } from '../support/services.ts';
import { loadSubgraphIsolationCases, type IsolationContext } from '../support/tenant-isolation.ts';

const repositoryRoot = join(dirname(fileURLToPath(import.meta.url)), '../..');
const OPERATIONS = rootOperationsOf(join(repositoryRoot, 'schema/nexus-cos/api-schema.graphql'));
const ENTITY_TYPES = resolvableEntitiesOf(join(repositoryRoot, 'subgraphs/nexus-cos'));
/** Every COS service keeps its cases in its own folder (test/tenant-isolation.cases.ts); this file has none of its own. */
const SUBGRAPH_CASES = await loadSubgraphIsolationCases(join(repositoryRoot, 'subgraphs/nexus-cos'));

const STRIPE_SECRET_KEY = 'sk_test_tenantIsolation';
const STRIPE_WEBHOOK_SECRET = 'whsec_tenantIsolation0000000000000000000';
const LOGIN = `mutation ($input: LoginInput!) { login(input: $input) { __typename ... on SignedIn { accessToken } } }`;
const REGISTER = `mutation ($input: RegisterInput!) { register(input: $input) { __typename ... on Registered { user { id organisation { id } } } } }`;

let graph: GraphUnderTest;
let stripe: FakeStripe;
let a: SignedUp;
let b: SignedUp;
/** Tenant A's data of each service, as its `setUp` made it. */
const subgraphStates: Record<string, unknown> = {};
const clients: Client[] = [];

async function ask(
  account: SignedUp,
  document: string,
  variables?: Record<string, unknown>,
): Promise<GraphQLResponse<Record<string, any>>> {
  const response = await postGraphQL<Record<string, any>>(graph.gateway.graphqlUrl, document, { token: account.token, variables });
  if (response.status >= 500) throw new Error(`gateway answered ${response.status}: ${JSON.stringify(response.errors)}`);
  return response;
}

async function data(account: SignedUp, document: string, variables?: Record<string, unknown>) {
  const response = await ask(account, document, variables);
  expect(response.errors, document).toBeUndefined();
  return response.data!;
}

function subscribe<T>(account: SignedUp, query: string, variables: Record<string, unknown> = {}) {
  const client = createClient({
    url: graph.gateway.graphqlUrl.replace('http://', 'ws://'),
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${account.token}` },
    retryAttempts: 0,
  });
  clients.push(client);
  return client.iterate<T>({ query, variables });
}

const isolationContext = (): IsolationContext => ({ a, b, data, ask, subscribe });

/**
 * A new organisation and its OWNER, registered through the gateway (user-auth). Tenant A signs in (auth-service), so
 * that it has a session and a sign-in for the cases to hide; tenant B holds a token token-mgr issued for no session,
 * so that the cases which sign tenant B out or end its sessions leave it working for the next ones.
 */
async function signUp(label: string, signIn: boolean): Promise<SignedUp> {
  const email = `${label}-${randomUUID()}@example.com`;
  const response = await postGraphQL<Record<string, any>>(graph.gateway.graphqlUrl, REGISTER, {
    variables: { input: { email, password: TEST_PASSWORD, name: `${label} owner`, organisationName: `${label} organisation` } },
  });
  const registered = response.data?.register;
  if (registered?.__typename !== 'Registered') throw new Error(`registration failed: ${JSON.stringify(response)}`);
  const { id: userId, organisation } = registered.user as { id: string; organisation: { id: string } };
  if (!signIn) {
    const token = await graph.tokenFor({ kind: 'user', userId, tenantId: organisation.id, roles: [Role.Owner] });
    return { email, userId, token };
  }
  const signedIn = (
    await postGraphQL<Record<string, any>>(graph.gateway.graphqlUrl, LOGIN, { variables: { input: { email, password: TEST_PASSWORD } } })
  ).data?.login;
  if (signedIn?.__typename !== 'SignedIn') throw new Error(`sign-in failed: ${JSON.stringify(signedIn)}`);
  return { email, userId, token: signedIn.accessToken as string };
}

/** Whether a value tells nothing: null, empty lists, zero, or objects (a page) made only of such. */
function empty(value: unknown): boolean {
  if (value === null || value === 0 || value === false) return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === 'object') return Object.values(value).every(empty);
  return false;
}

type RootCase = () => Promise<void>;
const ROOT_CASES: Record<string, RootCase> = {};
const ENTITY_CASES: Record<string, { selection: string; id: () => string }> = {};
for (const [service, cases] of Object.entries(SUBGRAPH_CASES)) {
  for (const [operation, subgraphCase] of Object.entries(cases.root)) {
    if (operation in ROOT_CASES) throw new Error(`${operation} has cases in two services (one is ${service}): keep one`);
    ROOT_CASES[operation] = async () => {
      const state = subgraphStates[service];
      const before = await cases.stateOfA(isolationContext(), state);
      await subgraphCase(isolationContext(), state);
      expect(await cases.stateOfA(isolationContext(), state)).toEqual(before);
    };
  }
  for (const [typename, entityCase] of Object.entries(cases.entities)) {
    ENTITY_CASES[`${service}:${typename}`] = { selection: entityCase.selection, id: () => entityCase.id(subgraphStates[service]) };
  }
}

describe('tenant isolation of Nexus COS', () => {
  beforeAll(async () => {
    stripe = await new FakeStripe({ secretKey: STRIPE_SECRET_KEY, webhookSecret: STRIPE_WEBHOOK_SECRET, prices: {} }).start();
    graph = await startGraphUnderTest(
      'nexus-cos',
      servicesOf('nexus-cos').map(({ name }) => name),
      {
        label: 'nexus_cos_tenant_isolation',
        settings: { 'billing-service': { ...stripe.environment, STRIPE_EVENT_RETRY_INTERVAL_MS: '0' } },
      },
    );
    stripe.webhookUrl = `${graph.subgraphs['billing-service']!.url}${STRIPE_WEBHOOK_PATH}`;
    [a, b] = await Promise.all([signUp('cos-isolation-a', true), signUp('cos-isolation-b', false)]);
    for (const [service, cases] of Object.entries(SUBGRAPH_CASES)) subgraphStates[service] = await cases.setUp(isolationContext());
    // What tenant A's set-up left running in the background (Stripe's webhooks, invoice-gen's ledger postings) ends
    // before the cases compare A's state.
    await stripe.settled();
    await (graph.subgraphs['invoice-gen'] as RunningSubgraph<InvoiceGenServices>).services.postings.idle();
  });

  afterAll(async () => {
    for (const client of clients) await client.dispose();
    await graph?.close();
    await stripe?.close();
  });

  it('has an isolation case for exactly the root operations of the API schema', () => {
    const missing = OPERATIONS.filter((operation) => !(operation in ROOT_CASES));
    const stale = Object.keys(ROOT_CASES).filter((operation) => !OPERATIONS.includes(operation));
    expect(missing, `add a case to the service's test/tenant-isolation.cases.ts for ${missing.join(', ')}`).toEqual([]);
    expect(stale, `remove the cases of operations the schema no longer has: ${stale.join(', ')}`).toEqual([]);
  });

  it('has an isolation case for exactly the entity types the services resolve', () => {
    const missing = ENTITY_TYPES.filter((entity) => !(entity in ENTITY_CASES));
    const stale = Object.keys(ENTITY_CASES).filter((entity) => !ENTITY_TYPES.includes(entity));
    expect(missing, `add an entity case to the service's test/tenant-isolation.cases.ts for ${missing.join(', ')}`).toEqual([]);
    expect(stale, `remove the cases of entity types no service resolves any more: ${stale.join(', ')}`).toEqual([]);
  });

  it.each(OPERATIONS)("%s shows tenant B none of tenant A's data and lets it change none", async (operation) => {
    const isolationCase = ROOT_CASES[operation];
    if (!isolationCase) throw new Error(`${operation} has no isolation case: add one to its service's test/tenant-isolation.cases.ts`);
    await isolationCase();
  });

  it.each(ENTITY_TYPES)("_entities of %s shows tenant B none of tenant A's data", async (entity) => {
    const entityCase = ENTITY_CASES[entity];
    if (!entityCase) throw new Error(`${entity} has no isolation case: add one to its service's test/tenant-isolation.cases.ts`);
    const [service, typename] = entity.split(':') as [string, string];
    const subgraph = graph.subgraphs[service];
    if (!subgraph) throw new Error(`the graph under test does not run ${service}`);
    const id = entityCase.id();
    const resolveAs = async (account: SignedUp) => {
      const identity = { kind: 'user' as const, userId: account.userId, tenantId: tenantOf(account), roles: [Role.Owner] };
      const response = await postGraphQL<{ _entities: (Record<string, unknown> | null)[] }>(
        subgraph.graphqlUrl,
        `query ($representations: [_Any!]!) { _entities(representations: $representations) { ${entityCase.selection} } }`,
        { variables: { representations: [{ __typename: typename, id }] }, headers: signIdentity(identity, subgraph.config.internalSecret) },
      );
      for (const error of response.errors ?? []) expect(['FORBIDDEN', 'NOT_FOUND'], error.message).toContain(error.extensions?.code);
      expect(response.data?._entities).toHaveLength(1);
      const { id: _echoed, ...fields } = response.data!._entities[0] ?? {};
      return fields;
    };

    // Tenant A's own request shows the data, so the selection and the id do reach it.
    const seenByA = await resolveAs(a);
    expect(empty(seenByA), `${entity} ${id} as seen by tenant A: ${JSON.stringify(seenByA)}`).toBe(false);
    const seenByB = await resolveAs(b);
    expect(empty(seenByB), `${entity} ${id} as seen by tenant B: ${JSON.stringify(seenByB)}`).toBe(true);
  });
});
