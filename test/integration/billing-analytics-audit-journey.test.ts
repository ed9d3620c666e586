import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Role, systemFork } from '@nexusflow/kit';
import { postGraphQL, storageModes, type GraphQLResponse } from '@nexusflow/kit/testing';
import { FakeStripe } from '../support/fake-stripe.ts';
import { signatureHeader } from '../../subgraphs/nexusflow/workflows/src/triggers/webhook-signing.ts';
import { signUp, TEST_PASSWORD, type SignedUp } from '../support/accounts.ts';
import { errorCodes } from '../support/requests.ts';
import { tenantOf } from '../support/roles.ts';
import { startGraphUnderTest, type GraphUnderTest } from '../support/services.ts';

const LOGIN = `mutation ($input: LoginInput!) { login(input: $input) { __typename ... on AuthSession { accessToken } } }`;
const PLANS = '{ plans { id available monthlyPriceCents limits { executionsPerMonth } } }';
const ADD_PAYMENT_METHOD = 'mutation { addPaymentMethod { setupIntentId clientSecret } }';
const SUBSCRIBE = `mutation Subscribe($planId: ID!) { subscribe(planId: $planId) {
  __typename ... on SubscriptionChanged { subscription { status plan { id } hasPaymentMethod } } ... on PaymentMethodRequired { message } } }`;
const CREATE_WORKFLOW = `mutation ($input: WorkflowInput!) {
  createWorkflow(input: $input) { __typename ... on Workflow { id webhook { url secret } } }
}`;
const EXECUTION = 'query ($id: ID!) { execution(id: $id) { status startedAt error { message } } }';
const RUN = `mutation RunWorkflow($id: ID!, $input: JSON) { runWorkflow(id: $id, input: $input) {
  __typename ... on Execution { id } ... on QuotaExceeded { message used limit } } }`;
const USAGE = '{ usage { meters { metric used limit exceeded } } }';
const USAGE_METRICS = `query ($from: DateTime!, $to: DateTime!) {
  usageMetrics(from: $from, to: $to) { executionsByDay { status count } executionDurations { count } }
}`;
const COHORTS = `query ($from: DateTime!, $to: DateTime!) { cohorts(from: $from, to: $to) { week size activeByWeek retentionByWeek } }`;
const EXPORT = `query ($from: DateTime!, $to: DateTime!) { analyticsExport(from: $from, to: $to) { totalEvents csvUrl jsonLinesUrl } }`;
const INVOICES = '{ invoices { status amountDueCents } }';
const TRAIL = `query ($filter: AuditEntryFilterInput) {
  auditEntries(filter: $filter, first: 100) { edges { node { id sequence source action outcome actor { kind id } details } } }
}`;
const VERIFY = '{ verifyAuditTrail { intact checkedEntries firstBreak { entryId sequence reason } } }';

/** The Starter plan of this deployment allows this many runs a month: small, so that the quota is reached in a test. */
const STARTER_RUNS = 3;
/** Work the services do in the background (the bus, the outboxes, Stripe's webhooks) is waited for this long at most. */
const EVENTUALLY = { timeout: 20_000, interval: 50 };
const DAY_MS = 86_400_000;

interface TrailEntry {
  id: string;
  sequence: number;
  source: string;
  action: string;
  outcome: string;
  actor: { kind: string; id: string | null };
  details: Record<string, any>;
}

/** The first instant (UTC) of the week, from Monday, that holds `at`: the weeks cohorts are made of. */
function mondayOf(at: number): string {
  const day = new Date(at);
  const sinceMonday = (day.getUTCDay() + 6) % 7;
  return new Date(Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate() - sinceMonday)).toISOString();
}

/**
 * Issue 17's journey through the nexusflow gateway, with auth, workflows, billing, analytics and audit behind it and
 * Stripe faked at its HTTP API (its webhooks signed and delivered to billing's endpoint): a new tenant's owner, signed
 * up and signed in, pays for a plan, runs workflows until the plan's quota refuses one, sees its usage, a cohort of its
 * sign-up week and an export of its events; an admin reads the trail of all of it, proved intact until one row is
 * edited in the database; a viewer of the tenant is refused all of it but its plan and usage.
 */
describe('the billing, analytics and audit journey', () => {
  describe.each(storageModes(['postgres', 'redis', 'amqp']))('on $storage', ({ mode }) => {
    const stripe = new FakeStripe({
      secretKey: 'sk_test_journey',
      webhookSecret: 'whsec_journey_test',
      prices: { price_starter: { unitAmount: 2_900 }, price_pro: { unitAmount: 9_900 } },
    });
    let graph: GraphUnderTest;
    let owner: SignedUp;
    let tenantId: string;
    let adminToken: string;
    let viewerToken: string;
    const runIds: string[] = [];
    const journeyStarted = Date.now();
    const period = { from: new Date(journeyStarted - DAY_MS).toISOString(), to: new Date(journeyStarted + DAY_MS).toISOString() };

    beforeAll(async () => {
      await stripe.start();
      graph = await startGraphUnderTest('nexusflow', ['auth', 'workflows', 'billing', 'analytics', 'audit'], {
        mode,
        label: `billing_journey_${mode}`,
        settings: {
          billing: { ...stripe.environment, STRIPE_PRICE_STARTER: 'price_starter', STRIPE_PRICE_PRO: 'price_pro' },
          workflows: { OUTBOX_POLL_INTERVAL_MS: '50' },
        },
      });
      stripe.webhookUrl = `${graph.subgraphs.billing!.url}/webhooks/stripe`;
      const registered = await signUp(graph.gateway.graphqlUrl, 'billing-journey');
      const signedIn = await postGraphQL<Record<string, any>>(graph.gateway.graphqlUrl, LOGIN, {
        variables: { input: { email: registered.email, password: TEST_PASSWORD } },
      });
      expect(signedIn.data?.login.__typename, JSON.stringify(signedIn)).toBe('AuthSession');
      owner = { ...registered, token: signedIn.data!.login.accessToken as string };
      tenantId = tenantOf(owner);
      adminToken = await graph.tokenFor({ kind: 'user', userId: randomUUID(), tenantId, roles: [Role.Admin] });
      viewerToken = await graph.tokenFor({ kind: 'user', userId: randomUUID(), tenantId, roles: [Role.Viewer] });
    });

    afterAll(async () => {
      await stripe.close();
      await graph?.close();
    });

    const send = (token: string, query: string, variables?: Record<string, unknown>): Promise<GraphQLResponse<Record<string, any>>> =>
      postGraphQL<Record<string, any>>(graph.gateway.graphqlUrl, query, { token, variables });
    const data = async (token: string, query: string, variables?: Record<string, unknown>) => {
      const response = await send(token, query, variables);
      expect(response.errors, JSON.stringify(response.errors)).toBeUndefined();
      return response.data!;
    };
    const trail = async (filter: Record<string, unknown>): Promise<TrailEntry[]> =>
      ((await data(adminToken, TRAIL, { filter })).auditEntries.edges as { node: TrailEntry }[]).map(({ node }) => node);
    const executionsMeter = async () =>
      ((await data(owner.token, USAGE)).usage.meters as { metric: string; used: number }[]).find((meter) => meter.metric === 'EXECUTIONS');

    it('subscribes the new tenant to a paid plan once Stripe confirmed its card', async () => {
      const listed = (await data(owner.token, PLANS)).plans as { id: string; available: boolean }[];
      expect(listed.filter((plan) => plan.available).map((plan) => plan.id)).toEqual(['FREE', 'STARTER', 'PRO']);
      // The deployment's Starter plan, as the catalogue's rows hold it: a quota small enough to reach here.
      await systemFork(graph.subgraphs.billing!.database)
        .getConnection()
        .execute(`update "plans" set "executions_per_month" = ? where "tier" = 'STARTER'`, [STARTER_RUNS]);
      expect((await data(owner.token, PLANS)).plans).toContainEqual({
        id: 'STARTER',
        available: true,
        monthlyPriceCents: 2_900,
        limits: { executionsPerMonth: STARTER_RUNS },
      });

      expect((await data(owner.token, SUBSCRIBE, { planId: 'STARTER' })).subscribe.__typename).toBe('PaymentMethodRequired');
      const { addPaymentMethod } = await data(owner.token, ADD_PAYMENT_METHOD);
      expect(addPaymentMethod.clientSecret).toMatch(/^seti_\w+_secret_\w+$/);
      await stripe.confirmSetupIntent(addPaymentMethod.setupIntentId);
      // The card is filed once billing processed Stripe's signed setup_intent.succeeded; until then it is still asked for.
      await expect
        .poll(async () => (await data(owner.token, SUBSCRIBE, { planId: 'STARTER' })).subscribe, EVENTUALLY)
        .toEqual({
          __typename: 'SubscriptionChanged',
          subscription: { status: 'ACTIVE', plan: { id: 'STARTER' }, hasPaymentMethod: true },
        });
      expect((await data(owner.token, INVOICES)).invoices).toEqual([{ status: 'PAID', amountDueCents: 2_900 }]);
      expect(stripe.deliveries.every((delivery) => delivery.status === 200)).toBe(true);
    });

    it(`runs a workflow ${STARTER_RUNS} times, and the plan's quota refuses the next run, and a webhook's, with the reason`, async () => {
      const { createWorkflow } = await data(owner.token, CREATE_WORKFLOW, {
        input: {
          name: 'Invoice reminder',
          steps: [{ key: 'done', type: 'transform', config: { template: { ok: true } } }],
          triggers: [{ type: 'WEBHOOK' }],
        },
      });
      expect(createWorkflow.__typename).toBe('Workflow');
      const run = async () =>
        (await data(owner.token, RUN, { id: createWorkflow.id, input: { customer: 'acme', apiKey: 'sk_live_customer_key' } })).runWorkflow;

      for (let started = 1; started <= STARTER_RUNS; started++) {
        const execution = await run();
        expect(execution.__typename).toBe('Execution');
        runIds.push(execution.id as string);
        // Billing counts each run from its event on the bus, as a client reading its usage sees it.
        await expect.poll(async () => (await executionsMeter())?.used, EVENTUALLY).toBe(started);
      }
      expect(await run()).toEqual({
        __typename: 'QuotaExceeded',
        message: `Your plan allows ${STARTER_RUNS} runs a month, and ${STARTER_RUNS} were started this month`,
        used: STARTER_RUNS,
        limit: STARTER_RUNS,
      });
      expect(await executionsMeter()).toEqual({ metric: 'EXECUTIONS', used: STARTER_RUNS, limit: STARTER_RUNS, exceeded: true });

      // A sender's signed delivery to the workflow's webhook: recorded as a run that failed without starting, with why.
      const { url, secret } = createWorkflow.webhook as { url: string; secret: string };
      const [body, deliveryId] = [JSON.stringify({ invoice: 'in_42' }), randomUUID()];
      const delivered = await fetch(`${graph.subgraphs.workflows!.url}${new URL(url).pathname}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-nexusflow-delivery': deliveryId,
          'x-nexusflow-signature': signatureHeader(secret, Math.floor(Date.now() / 1000), deliveryId, body),
        },
        body,
      });
      expect(delivered.status).toBe(200);
      const { executionId } = (await delivered.json()) as { executionId: string };
      expect((await data(owner.token, EXECUTION, { id: executionId })).execution).toEqual({
        status: 'FAILED',
        startedAt: null,
        error: { message: `Not started: Your plan allows ${STARTER_RUNS} runs a month, and ${STARTER_RUNS} were started this month` },
      });
    });

    it("shows the tenant's executions in its usage metrics, and its sign-up week as a cohort", async () => {
      // Per status over the period's days: the runs that completed, and the webhook's that the quota refused.
      const endedByStatus = async () => {
        const days = (await data(owner.token, USAGE_METRICS, period)).usageMetrics.executionsByDay as { status: string; count: number }[];
        const counts: Record<string, number> = {};
        for (const { status, count } of days) counts[status] = (counts[status] ?? 0) + count;
        return counts;
      };
      await expect.poll(endedByStatus, EVENTUALLY).toEqual({ COMPLETED: STARTER_RUNS, FAILED: 1 });
      expect((await data(owner.token, USAGE_METRICS, period)).usageMetrics.executionDurations.count).toBeGreaterThanOrEqual(STARTER_RUNS);

      const { cohorts } = await data(owner.token, COHORTS, period);
      expect(cohorts).toEqual([{ week: mondayOf(journeyStarted), size: 1, activeByWeek: [1], retentionByWeek: [1] }]);
    });

    it("exports the tenant's events as CSV and JSON lines from the links it is given", async () => {
      const { analyticsExport } = await data(owner.token, EXPORT, period);
      // The links name the service's public origin (ANALYTICS_EXPORT_BASE_URL); here it listens on a port of its own.
      const onService = (link: string) => `${graph.subgraphs.analytics!.url}${new URL(link).pathname}${new URL(link).search}`;

      const csv = await fetch(onService(analyticsExport.csvUrl as string));
      expect(csv.status).toBe(200);
      const [header, ...lines] = (await csv.text()).trimEnd().split('\r\n');
      expect(header).toBe('id,occurredAt,recordedAt,type,userId,subjectId,subjectIds,durationMs,status,tokens,payload');
      const cells = lines.map((line) => line.split(','));
      const csvSubjectsOf = (type: string) => cells.filter((cell) => cell[3] === type).map((cell) => cell[5]);
      expect(csvSubjectsOf('workflow.execution.started').sort()).toEqual([...runIds].sort());
      expect(csvSubjectsOf('workflow.execution.completed').sort()).toEqual([...runIds].sort());
      expect(cells.filter((cell) => cell[3] === 'user.registered').map((cell) => cell[4])).toEqual([owner.userId]);
      expect(lines.length).toBeGreaterThanOrEqual(analyticsExport.totalEvents as number);

      const jsonLines = await fetch(onService(analyticsExport.jsonLinesUrl as string));
      expect(jsonLines.status).toBe(200);
      const rows = (await jsonLines.text())
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line) as { type: string; subjectId: string | null; userId: string | null; payload: unknown });
      const started = rows.filter((row) => row.type === 'workflow.execution.started');
      expect(started.map((row) => row.subjectId).sort()).toEqual([...runIds].sort());
      expect(rows.filter((row) => row.type === 'user.registered').map((row) => row.userId)).toEqual([owner.userId]);
      expect(JSON.stringify(rows)).not.toContain('sk_live_customer_key');
    });

    it("gives an admin the trail of the tenant's payments and runs, secrets redacted, and proves it intact", async () => {
      await expect.poll(async () => (await trail({ actor: owner.userId, action: 'mutation.runWorkflow' })).length, EVENTUALLY).toBe(4);
      const runs = await trail({ actor: owner.userId, action: 'mutation.runWorkflow' });
      for (const entry of runs) {
        expect(entry).toMatchObject({
          source: 'MUTATION',
          outcome: 'SUCCESS',
          actor: { kind: 'USER', id: owner.userId },
          details: { operationName: 'RunWorkflow', variables: { input: { customer: 'acme', apiKey: '[REDACTED]' } } },
        });
      }
      const subscribed = await trail({ actor: owner.userId, action: 'mutation.subscribe' });
      expect(subscribed.length).toBeGreaterThanOrEqual(2);
      expect(subscribed.every((entry) => entry.details.variables.planId === 'STARTER')).toBe(true);
      const everything = JSON.stringify(await trail({}));
      for (const secret of ['sk_live_customer_key', TEST_PASSWORD]) expect(everything).not.toContain(secret);

      const verified = (await data(adminToken, VERIFY)).verifyAuditTrail;
      expect(verified).toMatchObject({ intact: true, firstBreak: null });
      expect(verified.checkedEntries).toBeGreaterThanOrEqual(runs.length + subscribed.length);
    });

    it('finds the one row edited in the audit database, past its append-only trigger, as the first break', async () => {
      const [forged] = (await trail({ actor: owner.userId, action: 'mutation.subscribe' })).sort((a, b) => a.sequence - b.sequence);
      // Someone with superuser access to the database turns the append-only trigger off to rewrite history.
      await systemFork(graph.subgraphs.audit!.database).transactional(async (tx) => {
        await tx.execute('alter table "audit_entries" disable trigger "audit_entries_append_only"');
        await tx.execute(`update "audit_entries" set "details" = jsonb_set("details", '{variables,planId}', '"PRO"') where "id" = ?`, [
          forged!.id,
        ]);
        await tx.execute('alter table "audit_entries" enable always trigger "audit_entries_append_only"');
      });
      const edited = (await trail({ actor: owner.userId, action: 'mutation.subscribe' })).find((entry) => entry.id === forged!.id);
      expect(edited!.details.variables.planId).toBe('PRO');

      expect((await data(adminToken, VERIFY)).verifyAuditTrail).toEqual({
        intact: false,
        checkedEntries: forged!.sequence,
        firstBreak: { entryId: forged!.id, sequence: forged!.sequence, reason: 'CONTENT' },
      });
    });

    it("refuses a VIEWER the tenant's invoices, metrics, cohorts, exports and trail, and a plan change", async () => {
      for (const [query, variables] of [
        [INVOICES, {}],
        [USAGE_METRICS, period],
        [COHORTS, period],
        [EXPORT, period],
        [TRAIL, {}],
        [VERIFY, {}],
        [SUBSCRIBE, { planId: 'PRO' }],
      ] as const) {
        expect(errorCodes(await send(viewerToken, query, variables)), query).toEqual(['FORBIDDEN']);
      }
      expect((await executionsMeter())?.used).toBe(STARTER_RUNS);
    });
  });
});
