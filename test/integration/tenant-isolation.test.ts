import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Role, signIdentity, type RunningSubgraph } from '@nexusflow/kit';
import { postGraphQL } from '@nexusflow/kit/testing';
import { liveNotificationTopic } from '../../subgraphs/nexusflow/notifications/src/domain/notification-service.ts';
import { signUp, TEST_PASSWORD, type SignedUp } from '../support/accounts.ts';
import { ask } from '../support/requests.ts';
import { tenantOf } from '../support/roles.ts';
import { resolvableEntitiesOf, rootOperationsOf } from '../support/schema-operations.ts';
import { startStack, type Stack } from '../support/stack.ts';
import { loadSubgraphIsolationCases, type IsolationContext } from '../support/tenant-isolation.ts';

const repositoryRoot = join(dirname(fileURLToPath(import.meta.url)), '../..');
const OPERATIONS = rootOperationsOf(join(repositoryRoot, 'schema/nexusflow/api-schema.graphql'));
const ENTITY_TYPES = resolvableEntitiesOf(join(repositoryRoot, 'subgraphs/nexusflow'));
/** The cases subgraphs keep in their own folders (test/tenant-isolation.cases.ts), by service. */
const SUBGRAPH_CASES = await loadSubgraphIsolationCases(join(repositoryRoot, 'subgraphs/nexusflow'));

/** Tenant A's data, made through the gateway before any case runs; tenant B is the stranger every case acts as. */
interface Fixture {
  a: SignedUp;
  b: SignedUp;
  workflowId: string;
  executionId: string;
  scheduleId: string;
  notificationId: string;
  templateId: string;
  eventType: string;
}

const LOGIN = `mutation ($input: LoginInput!) { login(input: $input) { __typename ... on AuthSession { refreshToken user { id tenant { id } } } } }`;
const SESSION = `{ __typename ... on AuthSession { user { id tenant { id } } } ... on InvalidRefreshToken { problem } }`;
const WORKFLOW_INPUT = { name: 'Tenant A only', steps: [{ key: 'done', type: 'transform', config: { template: { secret: 'A' } } }] };
const WORKFLOW_RESULT = `{ __typename ... on Workflow { id } ... on WorkflowNotFound { id } }`;
const NOT_FOUND_RESULT = `{ __typename ... on WorkflowNotFound { id } }`;
const EXECUTION_RESULT = `{ __typename ... on ExecutionNotFound { id } }`;
const SCHEDULE_RESULT = `{ __typename ... on Schedule { id } ... on ScheduleNotFound { id } ... on InvalidSchedule { problems { field } } }`;

let stack: Stack;
let fixture: Fixture;
/** Tenant A's data of each subgraph that keeps its own cases, as its `setUp` made it. */
const subgraphStates: Record<string, unknown> = {};
const clients: Client[] = [];

async function gql(account: SignedUp, document: string, variables?: Record<string, unknown>) {
  const response = await ask(stack, account.token, document, variables);
  return response;
}

async function data(account: SignedUp, document: string, variables?: Record<string, unknown>) {
  const response = await gql(account, document, variables);
  expect(response.errors, document).toBeUndefined();
  return response.data!;
}

async function login(account: SignedUp): Promise<string> {
  const session = (await data(account, LOGIN, { input: { email: account.email, password: TEST_PASSWORD } })).login;
  if (session.__typename !== 'AuthSession') throw new Error('login failed');
  return session.refreshToken as string;
}

/** What tenant A sees of its own data, to compare before and after tenant B's attempt. */
async function tenantAState() {
  const { a, workflowId, executionId, scheduleId } = fixture;
  return data(
    a,
    `query ($workflowId: ID!, $executionId: ID!, $scheduleId: ID!) {
      workflow(id: $workflowId) { id name status version }
      execution(id: $executionId) { id status }
      schedule(id: $scheduleId) { id name status cron }
      schedules(workflowId: $workflowId) { id }
      workflows { edges { node { id } } }
      notifications(unreadOnly: false) { id read }
      notificationTemplates { id eventType channel body }
      contactPoints { email phone }
      me { notificationPreferences { eventType channels } }
    }`,
    { workflowId, executionId, scheduleId },
  );
}

/** Runs tenant B's `attempt` and proves tenant A's data is as it was. */
async function unchangedFor(attempt: () => Promise<void>): Promise<void> {
  const before = await tenantAState();
  await attempt();
  expect(await tenantAState()).toEqual(before);
}

function subscribe<T>(account: SignedUp, query: string, variables: Record<string, unknown> = {}) {
  const client = createClient({
    url: stack.gateway.graphqlUrl.replace('http://', 'ws://'),
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${account.token}` },
    retryAttempts: 0,
  });
  clients.push(client);
  return client.iterate<T>({ query, variables });
}

async function refusedSubscription(query: string, variables: Record<string, unknown>) {
  const updates = subscribe(fixture.b, query, variables);
  const refusal = await updates.next();
  expect(refusal.value).toMatchObject({ errors: [{ extensions: { code: 'NOT_FOUND' } }] });
  expect(refusal.value?.data ?? null).toBeNull();
}

type Case = (f: Fixture) => Promise<void>;

/** A new API key of `account`'s tenant, by id. */
async function apiKeyOf(account: SignedUp): Promise<string> {
  const created = await data(
    account,
    `mutation ($input: CreateApiKeyInput!) { createApiKey(input: $input) { ... on CreatedApiKey { apiKey { id } } } }`,
    { input: { name: 'Tenant A only', scopes: ['read'] } },
  );
  return created.createApiKey.apiKey.id as string;
}

async function apiKeysOf(account: SignedUp) {
  return (await data(account, '{ apiKeys { id revokedAt } }')).apiKeys as { id: string; revokedAt: string | null }[];
}

const INVITE = `mutation ($input: InviteMemberInput!) { inviteMember(input: $input) { __typename ... on Invitation { id } } }`;

/** A new open invitation of `account`'s tenant, by id. */
async function invitationOf(account: SignedUp): Promise<string> {
  const invited = await data(account, INVITE, { input: { email: `invited-${randomUUID()}@example.com`, role: 'VIEWER' } });
  return invited.inviteMember.id as string;
}

/** The members of `account`'s tenant with their roles, as it sees them. */
async function membersOf(account: SignedUp) {
  return (await data(account, '{ me { tenant { users { id role } } } }')).me.tenant.users as { id: string; role: string }[];
}

/** The ids of `account`'s live sessions, as it lists them. */
async function sessionIdsOf(account: SignedUp): Promise<string[]> {
  return ((await data(account, '{ mySessions { id } }')).mySessions as { id: string }[]).map((session) => session.id);
}

const workflowNotFound =
  (mutation: string, extra = ''): Case =>
  async ({ b, workflowId }) =>
    unchangedFor(async () => {
      const response = await data(
        b,
        `mutation ($id: ID!${extra ? ', $input: WorkflowInput!' : ''}) { ${mutation}(id: $id${extra}) ${NOT_FOUND_RESULT} }`,
        {
          id: workflowId,
          ...(extra ? { input: { ...WORKFLOW_INPUT, name: 'Taken by B' } } : {}),
        },
      );
      expect(response[mutation]).toEqual({ __typename: 'WorkflowNotFound', id: workflowId });
    });

const executionNotFound =
  (mutation: string): Case =>
  async ({ b, executionId }) =>
    unchangedFor(async () => {
      expect((await data(b, `mutation ($id: ID!) { ${mutation}(id: $id) ${EXECUTION_RESULT} }`, { id: executionId }))[mutation]).toEqual({
        __typename: 'ExecutionNotFound',
        id: executionId,
      });
    });

const scheduleNotFound =
  (mutation: string, withInput = false): Case =>
  async ({ b, scheduleId }) =>
    unchangedFor(async () => {
      const bWorkflow = (
        await data(b, `mutation ($input: WorkflowInput!) { createWorkflow(input: $input) ${WORKFLOW_RESULT} }`, { input: WORKFLOW_INPUT })
      ).createWorkflow.id;
      const response = await data(
        b,
        `mutation ($id: ID!${withInput ? ', $input: ScheduleInput!' : ''}) { ${mutation}(id: $id${withInput ? ', input: $input' : ''}) { __typename ... on ScheduleNotFound { id } } }`,
        { id: scheduleId, ...(withInput ? { input: { workflowId: bWorkflow, name: 'Taken by B', cron: '0 3 * * *' } } : {}) },
      );
      expect(response[mutation]).toEqual({ __typename: 'ScheduleNotFound', id: scheduleId });
    });

/**
 * How tenant B is kept from tenant A's data, for every root field of the API schema. A field missing here fails the
 * test named after it: add its case, creating what it reads or changes as tenant A and acting as tenant B.
 */
const ROOT_CASES: Record<string, Case> = {
  'Query.me': async ({ b }) => {
    expect((await data(b, '{ me { id tenant { id users { id } } } }')).me).toEqual({
      id: b.userId,
      tenant: { id: tenantOf(b), users: [{ id: b.userId }] },
    });
  },
  'Query.user': async ({ a, b }) => {
    expect((await data(b, 'query ($id: ID!) { user(id: $id) { id email } }', { id: a.userId })).user).toBeNull();
  },
  'Query.notifications': async ({ b }) => {
    expect((await data(b, '{ notifications(unreadOnly: false) { id } }')).notifications).toEqual([]);
  },
  'Query.notificationTemplates': async ({ b }) => {
    expect((await data(b, '{ notificationTemplates { id } }')).notificationTemplates).toEqual([]);
  },
  'Query.contactPoints': async ({ b }) => {
    expect((await data(b, '{ contactPoints { email } }')).contactPoints).toBeNull();
  },
  'Query.schedules': async ({ b, workflowId }) => {
    expect(
      (await data(b, 'query ($workflowId: ID) { all: schedules { id } ofA: schedules(workflowId: $workflowId) { id } }', { workflowId }))
        .all,
    ).toEqual([]);
    expect((await data(b, 'query ($workflowId: ID) { schedules(workflowId: $workflowId) { id } }', { workflowId })).schedules).toEqual([]);
  },
  'Query.schedule': async ({ b, scheduleId }) => {
    expect((await data(b, 'query ($id: ID!) { schedule(id: $id) { id } }', { id: scheduleId })).schedule).toBeNull();
  },
  'Query.workflows': async ({ a, b }) => {
    const lists = await data(
      b,
      'query ($ownerId: ID) { all: workflows { edges { node { id } } } ofA: workflows(filter: { ownerId: $ownerId }) { edges { node { id } } } }',
      {
        ownerId: a.userId,
      },
    );
    expect(lists).toEqual({ all: { edges: [] }, ofA: { edges: [] } });
  },
  'Query.workflow': async ({ b, workflowId }) => {
    expect((await data(b, 'query ($id: ID!) { workflow(id: $id) { id } }', { id: workflowId })).workflow).toBeNull();
  },
  'Query.execution': async ({ b, executionId }) => {
    expect((await data(b, 'query ($id: ID!) { execution(id: $id) { id } }', { id: executionId })).execution).toBeNull();
  },
  // Not tenant data: every tenant sees the same step types.
  'Query.stepTypes': async ({ a, b }) => {
    expect((await data(b, '{ stepTypes }')).stepTypes).toEqual((await data(a, '{ stepTypes }')).stepTypes);
  },

  'Mutation.register': async ({ a }) =>
    unchangedFor(async () => {
      const register = `mutation ($input: RegisterInput!) { register(input: $input) { __typename ... on AuthSession { user { tenant { id users { id } } } } } }`;
      const taken = (
        await postGraphQL<any>(stack.gateway.graphqlUrl, register, {
          variables: { input: { email: a.email, password: TEST_PASSWORD, name: 'B', tenantName: 'A tenant' } },
        })
      ).data;
      expect(taken?.register).toEqual({ __typename: 'EmailAlreadyRegistered' });
      const sameName = (
        await postGraphQL<any>(stack.gateway.graphqlUrl, register, {
          variables: {
            input: { email: `b-${randomUUID()}@example.com`, password: TEST_PASSWORD, name: 'B', tenantName: 'isolation-a tenant' },
          },
        })
      ).data?.register;
      expect(sameName.user.tenant.id).not.toBe(tenantOf(a));
      expect(sameName.user.tenant.users).not.toContainEqual({ id: a.userId });
    }),
  'Mutation.login': async ({ b }) => {
    expect((await data(b, LOGIN, { input: { email: b.email, password: TEST_PASSWORD } })).login.user).toEqual({
      id: b.userId,
      tenant: { id: tenantOf(b) },
    });
  },
  // Email links name an account by a secret only its mailbox holds: tenant B has none of A's, and guesses change nothing.
  'Mutation.verifyEmail': async ({ a, b }) => {
    const verified = (await data(a, '{ me { emailVerified } }')).me.emailVerified;
    const guessed = (await data(b, 'mutation { verifyEmail(token: "guessed") { __typename } }')).verifyEmail;
    expect(guessed).toEqual({ __typename: 'InvalidToken' });
    expect((await data(a, '{ me { emailVerified } }')).me.emailVerified).toBe(verified);
  },
  'Mutation.resendVerificationEmail': async ({ b }) => {
    const sent = (
      await data(b, 'mutation { resendVerificationEmail { ... on VerificationEmailSent { email } ... on EmailAlreadyVerified { email } } }')
    ).resendVerificationEmail;
    expect(sent).toEqual({ email: b.email });
  },
  'Mutation.requestPasswordReset': async ({ a, b }) => {
    const requested = (await data(b, 'mutation ($email: String!) { requestPasswordReset(email: $email) { message } }', { email: a.email }))
      .requestPasswordReset;
    expect(requested.message).toMatch(/^If an account with this email exists/);
    expect((await data(a, LOGIN, { input: { email: a.email, password: TEST_PASSWORD } })).login.__typename).toBe('AuthSession');
  },
  'Mutation.resetPassword': async ({ a, b }) => {
    const reset = (await data(b, 'mutation { resetPassword(token: "guessed", newPassword: "a new password for A") { __typename } }'))
      .resetPassword;
    expect(reset).toEqual({ __typename: 'InvalidToken' });
    expect((await data(a, LOGIN, { input: { email: a.email, password: TEST_PASSWORD } })).login.__typename).toBe('AuthSession');
  },
  // Only the caller's own password: nothing names another account.
  'Mutation.changePassword': async ({ a, b }) => {
    const changed = (
      await data(b, 'mutation { changePassword(currentPassword: "not B\'s password", newPassword: "a new password") { __typename } }')
    ).changePassword;
    expect(changed).toEqual({ __typename: 'IncorrectPassword' });
    expect((await data(a, LOGIN, { input: { email: a.email, password: TEST_PASSWORD } })).login.__typename).toBe('AuthSession');
  },
  'Mutation.refreshSession': async ({ b }) => {
    const refreshed = (
      await data(b, `mutation ($token: String!) { refreshSession(refreshToken: $token) ${SESSION} }`, { token: await login(b) })
    ).refreshSession;
    expect(refreshed).toEqual({ __typename: 'AuthSession', user: { id: b.userId, tenant: { id: tenantOf(b) } } });
  },
  'Mutation.logout': async ({ a, b }) => {
    const sessionOfA = await login(a);
    expect(
      (await data(b, 'mutation ($token: String!) { logout(refreshToken: $token) { loggedOut } }', { token: await login(b) })).logout
        .loggedOut,
    ).toBe(true);
    const refreshedA = (
      await data(a, `mutation ($token: String!) { refreshSession(refreshToken: $token) ${SESSION} }`, { token: sessionOfA })
    ).refreshSession;
    expect(refreshedA).toEqual({ __typename: 'AuthSession', user: { id: a.userId, tenant: { id: tenantOf(a) } } });
  },
  'Query.apiKeys': async ({ a, b }) => {
    const ofA = await apiKeyOf(a);
    expect((await data(b, '{ apiKeys { id } }')).apiKeys).not.toContainEqual({ id: ofA });
  },
  'Mutation.createApiKey': async ({ a, b }) => {
    const before = await apiKeysOf(a);
    const created = (
      await data(b, `mutation ($input: CreateApiKeyInput!) { createApiKey(input: $input) { ... on CreatedApiKey { secret } } }`, {
        input: { name: 'Made by B', scopes: ['write'] },
      })
    ).createApiKey;
    expect(await apiKeysOf(a)).toEqual(before);
    // B's key acts in B's tenant: it finds none of A's workflows.
    const seen = await postGraphQL<any>(stack.gateway.graphqlUrl, '{ workflows { edges { node { id } } } }', {
      headers: { 'x-api-key': created.secret },
    });
    expect(seen.data?.workflows.edges).toEqual([]);
  },
  'Mutation.revokeApiKey': async ({ a, b }) => {
    const ofA = await apiKeyOf(a);
    const revoked = (
      await data(b, 'mutation ($id: ID!) { revokeApiKey(id: $id) { __typename ... on ApiKeyNotFound { id } } }', { id: ofA })
    ).revokeApiKey;
    expect(revoked).toEqual({ __typename: 'ApiKeyNotFound', id: ofA });
    expect(await apiKeysOf(a)).toContainEqual({ id: ofA, revokedAt: null });
  },
  'Query.mySessions': async ({ a, b }) => {
    const ofA = await sessionIdsOf(a);
    expect(ofA.length).toBeGreaterThan(0);
    for (const id of await sessionIdsOf(b)) expect(ofA).not.toContain(id);
  },
  'Mutation.revokeSession': async ({ a, b }) => {
    const before = await sessionIdsOf(a);
    for (const id of before) {
      const revoked = (await data(b, 'mutation ($id: ID!) { revokeSession(id: $id) { __typename ... on SessionNotFound { id } } }', { id }))
        .revokeSession;
      expect(revoked).toEqual({ __typename: 'SessionNotFound', id });
    }
    expect(await sessionIdsOf(a)).toEqual(before);
  },
  // Teams: tenant B (an OWNER of its own) can neither see, join, change nor empty tenant A's membership.
  'Query.myTenants': async ({ a, b }) => {
    const tenants = (await data(b, '{ myTenants { tenant { id } } }')).myTenants as { tenant: { id: string } }[];
    expect(tenants.map((membership) => membership.tenant.id)).toEqual([tenantOf(b)]);
    expect(tenants.map((membership) => membership.tenant.id)).not.toContain(tenantOf(a));
  },
  'Query.invitations': async ({ a, b }) => {
    const ofA = await invitationOf(a);
    expect((await data(b, '{ invitations { id } }')).invitations).not.toContainEqual({ id: ofA });
  },
  'Mutation.inviteMember': async ({ a, b }) =>
    unchangedFor(async () => {
      const before = await membersOf(a);
      const invited = (await data(b, INVITE, { input: { email: a.email, role: 'ADMIN' } })).inviteMember;
      // An invitation to B's tenant, which A may accept or not: nothing of A's tenant changes.
      expect(invited.__typename).toBe('Invitation');
      expect(await membersOf(a)).toEqual(before);
    }),
  'Mutation.revokeInvitation': async ({ a, b }) => {
    const ofA = await invitationOf(a);
    const revoked = (await data(b, 'mutation ($id: ID!) { revokeInvitation(id: $id) { __typename } }', { id: ofA })).revokeInvitation;
    expect(revoked).toEqual({ __typename: 'InvitationNotFound' });
    expect((await data(a, '{ invitations { id } }')).invitations).toContainEqual({ id: ofA });
  },
  'Mutation.acceptInvitation': async ({ a, b }) =>
    unchangedFor(async () => {
      const ofA = await invitationOf(a);
      const forged = `${ofA}.${Buffer.alloc(32).toString('base64url')}`;
      const accepted = (
        await data(
          b,
          'mutation ($token: String!) { acceptInvitation(token: $token) { __typename ... on InvalidInvitation { problem } } }',
          {
            token: forged,
          },
        )
      ).acceptInvitation;
      expect(accepted).toEqual({ __typename: 'InvalidInvitation', problem: 'INVALID' });
      expect(await membersOf(a)).not.toContainEqual({ id: b.userId });
    }),
  'Mutation.switchTenant': async ({ a, b }) => {
    const switched = (
      await data(b, 'mutation ($id: ID!) { switchTenant(tenantId: $id) { __typename ... on NotAMember { tenantId } } }', {
        id: tenantOf(a),
      })
    ).switchTenant;
    expect(switched).toEqual({ __typename: 'NotAMember', tenantId: tenantOf(a) });
  },
  'Mutation.changeMemberRole': async ({ a, b }) =>
    unchangedFor(async () => {
      const before = await membersOf(a);
      const changed = (
        await data(b, 'mutation ($id: ID!) { changeMemberRole(userId: $id, role: VIEWER) { __typename } }', { id: a.userId })
      ).changeMemberRole;
      expect(changed).toEqual({ __typename: 'MemberNotFound' });
      expect(await membersOf(a)).toEqual(before);
    }),
  'Mutation.removeMember': async ({ a, b }) =>
    unchangedFor(async () => {
      const before = await membersOf(a);
      expect((await data(b, 'mutation ($id: ID!) { removeMember(userId: $id) { __typename } }', { id: a.userId })).removeMember).toEqual({
        __typename: 'MemberNotFound',
      });
      expect(await membersOf(a)).toEqual(before);
    }),
  'Mutation.transferOwnership': async ({ a, b }) =>
    unchangedFor(async () => {
      const before = await membersOf(a);
      const transferred = (await data(b, 'mutation ($id: ID!) { transferOwnership(userId: $id) { __typename } }', { id: a.userId }))
        .transferOwnership;
      expect(transferred).toEqual({ __typename: 'MemberNotFound' });
      expect(await membersOf(a)).toEqual(before);
    }),
  'Mutation.leaveTenant': async ({ a, b }) =>
    unchangedFor(async () => {
      const before = await membersOf(a);
      // B owns its tenant, so it may not leave it; either way only B's own membership is ever at stake.
      expect((await data(b, 'mutation { leaveTenant { __typename } }')).leaveTenant).toEqual({ __typename: 'MembershipChangeRefused' });
      expect(await membersOf(a)).toEqual(before);
    }),
  'Mutation.revokeAllSessions': async ({ a, b }) => {
    const before = await sessionIdsOf(a);
    await data(b, 'mutation { revokeAllSessions { revokedCount } }');
    // A's access token still passes the gateway's revocation check, and A's sessions are all live.
    expect(await sessionIdsOf(a)).toEqual(before);
  },
  // MFA belongs to the caller's own person: whatever tenant B sends acts on B alone, and A's MFA stays as it was.
  'Mutation.beginMfaEnrollment': async ({ a, b }) =>
    unchangedFor(async () => {
      const started = (await data(b, 'mutation { beginMfaEnrollment { ... on MfaEnrollment { otpauthUri } } }')).beginMfaEnrollment;
      expect(started.otpauthUri).toContain(encodeURIComponent(b.email));
      expect((await data(a, '{ me { mfaEnabled } }')).me).toEqual({ mfaEnabled: false });
    }),
  'Mutation.confirmMfaEnrollment': async ({ a, b }) =>
    unchangedFor(async () => {
      const confirmed = (await data(b, 'mutation { confirmMfaEnrollment(code: "000000") { __typename } }')).confirmMfaEnrollment;
      expect(['InvalidMfaCode', 'MfaNotPending']).toContain(confirmed.__typename);
      expect((await data(a, '{ me { mfaEnabled } }')).me).toEqual({ mfaEnabled: false });
    }),
  'Mutation.disableMfa': async ({ b }) =>
    unchangedFor(async () => {
      expect((await data(b, 'mutation { disableMfa(code: "000000") { __typename } }')).disableMfa).toEqual({ __typename: 'MfaNotEnabled' });
    }),
  'Mutation.regenerateRecoveryCodes': async ({ b }) =>
    unchangedFor(async () => {
      expect((await data(b, 'mutation { regenerateRecoveryCodes(code: "000000") { __typename } }')).regenerateRecoveryCodes).toEqual({
        __typename: 'MfaNotEnabled',
      });
    }),
  'Mutation.completeMfaSignIn': async ({ b }) =>
    unchangedFor(async () => {
      const completed = (
        await data(b, 'mutation ($token: String!) { completeMfaSignIn(challengeToken: $token, code: "000000") { __typename } }', {
          token: randomUUID(),
        })
      ).completeMfaSignIn;
      expect(completed).toEqual({ __typename: 'InvalidMfaChallenge' });
    }),
  // Sign-in through identity providers starts before any tenant, and linked identities belong to the caller's own person.
  'Mutation.startOidcSignIn': async ({ b }) =>
    unchangedFor(async () => {
      const variables = { provider: 'GOOGLE', redirectUri: 'https://app.example/auth/callback' };
      const started = (
        await data(
          b,
          'mutation ($provider: IdentityProvider!, $redirectUri: String!) { startOidcSignIn(provider: $provider, redirectUri: $redirectUri) { __typename } }',
          variables,
        )
      ).startOidcSignIn;
      expect(started).toEqual({ __typename: 'ProviderNotConfigured' });
    }),
  'Mutation.completeOidcSignIn': async ({ b }) =>
    unchangedFor(async () => {
      const variables = { state: randomUUID(), code: randomUUID(), redirectUri: 'https://app.example/auth/callback' };
      const completed = (
        await data(
          b,
          'mutation ($state: String!, $code: String!, $redirectUri: String!) { completeOidcSignIn(state: $state, code: $code, redirectUri: $redirectUri) { ... on OidcSignInFailed { reason } } }',
          variables,
        )
      ).completeOidcSignIn;
      expect(completed).toEqual({ reason: 'INVALID_STATE' });
    }),
  'Query.linkedIdentities': async ({ b }) =>
    unchangedFor(async () => {
      expect((await data(b, '{ linkedIdentities { id } }')).linkedIdentities).toEqual([]);
    }),
  'Mutation.unlinkIdentity': async ({ b }) =>
    unchangedFor(async () => {
      const id = randomUUID();
      const unlinked = (
        await data(b, 'mutation ($id: ID!) { unlinkIdentity(id: $id) { __typename ... on LinkedIdentityNotFound { id } } }', { id })
      ).unlinkIdentity;
      expect(unlinked).toEqual({ __typename: 'LinkedIdentityNotFound', id });
    }),
  'Mutation.markNotificationRead': async ({ b, notificationId }) =>
    unchangedFor(async () => {
      expect(
        (await data(b, 'mutation ($id: ID!) { markNotificationRead(id: $id) { id } }', { id: notificationId })).markNotificationRead,
      ).toBeNull();
    }),
  'Mutation.markAllNotificationsRead': async ({ b }) =>
    unchangedFor(async () => {
      // B's own unread ones only (an export B started tells it when its file is ready), never A's.
      const own = (await data(b, '{ me { unreadNotificationCount } }')).me.unreadNotificationCount as number;
      expect((await data(b, 'mutation { markAllNotificationsRead { count } }')).markAllNotificationsRead).toEqual({ count: own });
    }),
  'Mutation.setNotificationPreference': async ({ b, eventType }) =>
    unchangedFor(async () => {
      const set = await data(
        b,
        'mutation ($eventType: String!) { setNotificationPreference(eventType: $eventType, channels: [SMS]) { eventType channels } }',
        { eventType },
      );
      expect(set.setNotificationPreference).toEqual({ eventType, channels: ['SMS'] });
    }),
  'Mutation.setContactPoints': async ({ b }) =>
    unchangedFor(async () => {
      expect(
        (await data(b, 'mutation ($email: String) { setContactPoints(input: { email: $email }) { email } }', { email: b.email }))
          .setContactPoints,
      ).toEqual({ email: b.email });
    }),
  'Mutation.setNotificationTemplate': async ({ b, eventType, templateId }) =>
    unchangedFor(async () => {
      const set = (
        await data(
          b,
          'mutation ($eventType: String!) { setNotificationTemplate(input: { eventType: $eventType, channel: IN_APP, body: "B wording" }) { id body } }',
          { eventType },
        )
      ).setNotificationTemplate;
      expect(set.body).toBe('B wording');
      expect(set.id).not.toBe(templateId);
    }),
  'Mutation.sendNotification': async ({ a, b }) =>
    unchangedFor(async () => {
      const sent = await gql(
        b,
        'mutation ($userId: ID!) { sendNotification(input: { userId: $userId, eventType: "isolation.probe", variables: { title: "From B" } }) { id } }',
        {
          userId: a.userId,
        },
      );
      expect(sent.data?.sendNotification ?? null).toBeNull();
      expect(sent.errors?.length).toBeGreaterThan(0);
    }),
  'Mutation.createSchedule': async ({ b, workflowId }) =>
    unchangedFor(async () => {
      const created = (
        await data(b, `mutation ($input: ScheduleInput!) { createSchedule(input: $input) ${SCHEDULE_RESULT} }`, {
          input: { workflowId, name: 'On A', cron: '0 4 * * *' },
        })
      ).createSchedule;
      expect(created).toMatchObject({ __typename: 'InvalidSchedule', problems: [{ field: 'workflowId' }] });
    }),
  'Mutation.updateSchedule': scheduleNotFound('updateSchedule', true),
  'Mutation.pauseSchedule': scheduleNotFound('pauseSchedule'),
  'Mutation.resumeSchedule': scheduleNotFound('resumeSchedule'),
  'Mutation.deleteSchedule': scheduleNotFound('deleteSchedule'),
  'Mutation.createWorkflow': async ({ b }) =>
    unchangedFor(async () => {
      expect(
        (await data(b, `mutation ($input: WorkflowInput!) { createWorkflow(input: $input) ${WORKFLOW_RESULT} }`, { input: WORKFLOW_INPUT }))
          .createWorkflow.__typename,
      ).toBe('Workflow');
    }),
  'Mutation.updateWorkflow': workflowNotFound('updateWorkflow', ', input: $input'),
  'Mutation.deleteWorkflow': workflowNotFound('deleteWorkflow'),
  'Mutation.pauseWorkflow': workflowNotFound('pauseWorkflow'),
  'Mutation.resumeWorkflow': workflowNotFound('resumeWorkflow'),
  'Mutation.runWorkflow': workflowNotFound('runWorkflow'),
  'Mutation.pauseExecution': executionNotFound('pauseExecution'),
  'Mutation.resumeExecution': executionNotFound('resumeExecution'),
  'Mutation.cancelExecution': executionNotFound('cancelExecution'),
  'Mutation.retryExecution': executionNotFound('retryExecution'),
  'Mutation.rotateWorkflowWebhookSecret': workflowNotFound('rotateWorkflowWebhookSecret'),

  'Subscription.notificationReceived': async ({ a, b }) => {
    type Received = { notificationReceived: { title: string } };
    const updates = subscribe<Received>(b, 'subscription { notificationReceived { title } }');
    const published = stack.notifications.pubsub.subscribe(liveNotificationTopic(b.userId));
    const notify = async (account: SignedUp, title: string) =>
      data(
        account,
        'mutation ($userId: ID!, $title: String!) { sendNotification(input: { userId: $userId, eventType: "isolation.live", variables: { title: $title } }) { id } }',
        {
          userId: account.userId,
          title,
        },
      );
    // The gateway does not say when the subscription reached the subgraph: notify A, then B, until B hears of it.
    const titles: string[] = [];
    const first = updates.next();
    for (let round = 0; titles.length === 0; round += 1) {
      if (round === 100) throw new Error('tenant B never heard of its own notifications');
      await notify(a, `For A ${round}`);
      await notify(b, `For B ${round}`);
      const heard = await Promise.race([first, published.next().then(() => undefined)]);
      if (heard) titles.push(heard.value!.data!.notificationReceived.title);
    }
    // Now that it listens, A's notification comes before B's marker; B's stream must carry only the marker.
    await notify(a, 'For A last');
    await notify(b, 'For B last');
    while (titles.at(-1) !== 'For B last') titles.push((await updates.next()).value!.data!.notificationReceived.title);
    await updates.return?.();
    await published.return?.();
    expect(titles.filter((title) => !title.startsWith('For B'))).toEqual([]);
  },
  'Subscription.executionUpdated': async ({ executionId }) =>
    refusedSubscription('subscription ($id: ID!) { executionUpdated(id: $id) { revision } }', { id: executionId }),
  'Subscription.workflowExecutions': async ({ workflowId }) =>
    refusedSubscription('subscription ($workflowId: ID!) { workflowExecutions(workflowId: $workflowId) { revision } }', { workflowId }),
};

interface EntityCase {
  /** The selection on the entity, as the gateway would ask for it. */
  selection: string;
  /** Tenant A's id of this type. */
  id(f: Fixture): string;
}

/**
 * Every type a subgraph resolves through `_entities`, asked for by tenant B with tenant A's ids. A type missing here
 * fails the test named after it: add the fields that would show tenant A's data.
 */
const ENTITY_CASES: Record<string, EntityCase> = {
  'auth:User': { selection: '... on User { id email name roles tenant { id name } }', id: (f) => f.a.userId },
  'auth:Tenant': { selection: '... on Tenant { id name slug users { id email } }', id: (f) => tenantOf(f.a) },
  'notifications:User': {
    selection:
      '... on User { id notifications(unreadOnly: false) { id title } unreadNotificationCount notificationPreferences { eventType } }',
    id: (f) => f.a.userId,
  },
  'notifications:Notification': { selection: '... on Notification { id title body }', id: (f) => f.notificationId },
  'scheduler:Workflow': { selection: '... on Workflow { id schedules { id name } }', id: (f) => f.workflowId },
  'scheduler:Schedule': { selection: '... on Schedule { id name cron }', id: (f) => f.scheduleId },
  'workflows:User': { selection: '... on User { id workflows { edges { node { id name } } } }', id: (f) => f.a.userId },
  'workflows:Tenant': { selection: '... on Tenant { id workflows { edges { node { id name } } } }', id: (f) => tenantOf(f.a) },
  'workflows:Workflow': { selection: '... on Workflow { id name steps { key } }', id: (f) => f.workflowId },
  'workflows:Execution': { selection: '... on Execution { id status output }', id: (f) => f.executionId },
};

const isolationContext = (): IsolationContext => ({ a: fixture.a, b: fixture.b, data, ask: gql, subscribe });

/** Each subgraph's own cases, run as the cases above: tenant A's view of its data must not change. */
for (const [service, cases] of Object.entries(SUBGRAPH_CASES)) {
  for (const [operation, subgraphCase] of Object.entries(cases.root)) {
    if (operation in ROOT_CASES) throw new Error(`${operation} has a case here and in subgraphs/nexusflow/${service}: keep one`);
    ROOT_CASES[operation] = async () => {
      const state = subgraphStates[service];
      const before = await cases.stateOfA(isolationContext(), state);
      await unchangedFor(() => subgraphCase(isolationContext(), state));
      expect(await cases.stateOfA(isolationContext(), state)).toEqual(before);
    };
  }
  for (const [typename, entityCase] of Object.entries(cases.entities)) {
    ENTITY_CASES[`${service}:${typename}`] = { selection: entityCase.selection, id: () => entityCase.id(subgraphStates[service]) };
  }
}

/** Whether a value tells nothing: null, empty lists, zero, or objects (a page) made only of such. */
function empty(value: unknown): boolean {
  if (value === null || value === 0 || value === false) return true;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === 'object') return Object.values(value).every(empty);
  return false;
}

function subgraphNamed(name: string): RunningSubgraph<unknown> {
  const subgraph = stack.subgraphs[name];
  if (!subgraph) throw new Error(`the test stack does not start subgraph ${name}`);
  return subgraph;
}

describe('tenant isolation', () => {
  beforeAll(async () => {
    stack = await startStack('embedded', 'tenant_isolation');
    const [a, b] = await Promise.all([signUp(stack.gateway.graphqlUrl, 'isolation-a'), signUp(stack.gateway.graphqlUrl, 'isolation-b')]);
    const eventType = `isolation.${randomUUID()}`;
    const workflowId = (
      await data(a, `mutation ($input: WorkflowInput!) { createWorkflow(input: $input) ${WORKFLOW_RESULT} }`, { input: WORKFLOW_INPUT })
    ).createWorkflow.id;
    const executionId = (await data(a, 'mutation ($id: ID!) { runWorkflow(id: $id) { ... on Execution { id } } }', { id: workflowId }))
      .runWorkflow.id;
    const scheduleId = (
      await data(a, `mutation ($input: ScheduleInput!) { createSchedule(input: $input) ${SCHEDULE_RESULT} }`, {
        input: { workflowId, name: 'A nightly', cron: '0 2 * * *' },
      })
    ).createSchedule.id;
    const templateId = (
      await data(
        a,
        'mutation ($eventType: String!) { setNotificationTemplate(input: { eventType: $eventType, channel: IN_APP, body: "A wording" }) { id } }',
        { eventType },
      )
    ).setNotificationTemplate.id;
    const notificationId = (
      await data(
        a,
        'mutation ($userId: ID!) { sendNotification(input: { userId: $userId, eventType: "isolation.setup", variables: { title: "For A" } }) { id } }',
        { userId: a.userId },
      )
    ).sendNotification.id;
    await data(a, 'mutation ($email: String) { setContactPoints(input: { email: $email, phone: "+4915112345678" }) { email } }', {
      email: a.email,
    });
    await data(
      a,
      'mutation ($eventType: String!) { setNotificationPreference(eventType: $eventType, channels: [IN_APP, EMAIL]) { eventType } }',
      { eventType },
    );
    fixture = { a, b, workflowId, executionId, scheduleId, notificationId, templateId, eventType };
    for (const [service, cases] of Object.entries(SUBGRAPH_CASES)) subgraphStates[service] = await cases.setUp(isolationContext());
  });

  afterAll(async () => {
    for (const client of clients) await client.dispose();
    await stack?.close();
  });

  it('has an isolation case for exactly the root operations of the API schema', () => {
    const missing = OPERATIONS.filter((operation) => !(operation in ROOT_CASES));
    const stale = Object.keys(ROOT_CASES).filter((operation) => !OPERATIONS.includes(operation));
    expect(missing, `add a case to ROOT_CASES here or to the subgraph's test/tenant-isolation.cases.ts for ${missing.join(', ')}`).toEqual(
      [],
    );
    expect(stale, `remove the cases of operations the schema no longer has: ${stale.join(', ')}`).toEqual([]);
  });

  it('has an isolation case for exactly the entity types the subgraphs resolve', () => {
    const missing = ENTITY_TYPES.filter((entity) => !(entity in ENTITY_CASES));
    const stale = Object.keys(ENTITY_CASES).filter((entity) => !ENTITY_TYPES.includes(entity));
    expect(
      missing,
      `add a case to ENTITY_CASES here or to the subgraph's test/tenant-isolation.cases.ts for ${missing.join(', ')}`,
    ).toEqual([]);
    expect(stale, `remove the cases of entity types no subgraph resolves any more: ${stale.join(', ')}`).toEqual([]);
  });

  it('lets tenant A see everything it made, so that what tenant B does not see is hidden rather than missing', async () => {
    const { a, workflowId, executionId, scheduleId, notificationId, templateId, eventType } = fixture;
    const state = await tenantAState();
    expect(state.workflow).toMatchObject({ id: workflowId, status: 'ACTIVE', version: 1 });
    expect(state.execution).toMatchObject({ id: executionId });
    expect(state.schedule).toMatchObject({ id: scheduleId, status: 'ACTIVE' });
    expect(state.schedules).toEqual([{ id: scheduleId }]);
    expect(state.workflows.edges).toContainEqual({ node: { id: workflowId } });
    expect(state.notifications).toContainEqual({ id: notificationId, read: false });
    expect(state.notificationTemplates).toContainEqual({ id: templateId, eventType, channel: 'IN_APP', body: 'A wording' });
    expect(state.contactPoints).toEqual({ email: a.email, phone: '+4915112345678' });
    expect(state.me.notificationPreferences).toContainEqual({ eventType, channels: expect.arrayContaining(['IN_APP', 'EMAIL']) });
  });

  it.each(OPERATIONS)("%s shows tenant B none of tenant A's data and lets it change none", async (operation) => {
    const isolationCase = ROOT_CASES[operation];
    if (!isolationCase) throw new Error(`${operation} has no isolation case: add one to ROOT_CASES`);
    await isolationCase(fixture);
  });

  it.each(ENTITY_TYPES)("_entities of %s shows tenant B none of tenant A's data", async (entity) => {
    const entityCase = ENTITY_CASES[entity];
    if (!entityCase) throw new Error(`${entity} has no isolation case: add one to ENTITY_CASES`);
    const [subgraphName, typename] = entity.split(':') as [string, string];
    const subgraph = subgraphNamed(subgraphName);
    const id = entityCase.id(fixture);
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
    const seenByA = await resolveAs(fixture.a);
    expect(empty(seenByA), `${entity} ${id} as seen by tenant A: ${JSON.stringify(seenByA)}`).toBe(false);
    const seenByB = await resolveAs(fixture.b);
    expect(empty(seenByB), `${entity} ${id} as seen by tenant B: ${JSON.stringify(seenByB)}`).toBe(true);
  });
});
