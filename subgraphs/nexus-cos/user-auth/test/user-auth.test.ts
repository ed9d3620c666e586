import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Role, type Identity } from '@nexusflow/kit';
import { startSubgraphUnderTest, type SubgraphUnderTest } from '@nexusflow/kit/testing';
import type { UserAuthServices } from '../src/context.ts';
import { subgraph as sessionMgrSubgraph } from '../../session-mgr/src/subgraph.ts';
import { subgraph } from '../src/subgraph.ts';

const PASSWORD = 'correct horse battery';
const USER = 'id email name role emailVerified active organisation { id name }';
const REGISTER = `mutation ($input: RegisterInput!) { register(input: $input) {
  __typename ... on Registered { user { ${USER} } } ... on EmailAlreadyRegistered { email } } }`;
const VERIFY = `mutation ($token: String!) { verifyEmail(token: $token) {
  __typename ... on User { id emailVerified } ... on InvalidVerificationToken { message } } }`;
const CHECK = `mutation ($input: CheckCredentialsInput!) { checkCredentials(input: $input) {
  __typename ... on ValidCredentials { userId tenantId role } ... on InvalidCredentials { message } ... on DeactivatedAccount { message } } }`;
const CREATE = `mutation ($input: CreateUserInput!) { createUser(input: $input) {
  __typename ... on User { id role } ... on EmailAlreadyRegistered { email } } }`;
const STATUS = `{ __typename ... on User { id active } ... on UserNotFound { id } ... on UserChangeNotAllowed { message } }`;
const DEACTIVATE = `mutation ($id: ID!) { deactivateUser(id: $id) ${STATUS} }`;
const REACTIVATE = `mutation ($id: ID!) { reactivateUser(id: $id) ${STATUS} }`;
const CHANGE_PASSWORD = `mutation ($input: ChangePasswordInput!) { changePassword(input: $input) {
  __typename ... on User { id } ... on IncorrectPassword { message } } }`;

type Registered = { id: string; email: string; role: string; organisation: { id: string } };

describe('the user-auth subgraph', () => {
  let under: SubgraphUnderTest<UserAuthServices>;
  /** Where a changed password or a deactivation ends sessions; these users have none, so token-mgr is not asked. */
  let sessionMgr: SubgraphUnderTest<unknown>;
  /** The verification links user-auth logged (its development delivery), by recipient. */
  const links = new Map<string, string>();

  beforeAll(async () => {
    sessionMgr = await startSubgraphUnderTest('user-auth-behaviour-sessions', (env) => sessionMgrSubgraph.start(env));
    under = await startSubgraphUnderTest('user-auth-behaviour', (env) => subgraph.start(env), {
      SESSION_MGR_URL: sessionMgr.subgraph.graphqlUrl,
    });
    const logInfo = under.subgraph.logger.info;
    under.subgraph.logger.info = (...args: unknown[]) => {
      const sent = args[0] as { to?: string; link?: string } | undefined;
      if (sent?.to && sent.link) links.set(sent.to, sent.link);
      Reflect.apply(logInfo, under.subgraph.logger, args);
    };
  });

  afterAll(async () => {
    await under?.close();
    await sessionMgr?.close();
  });

  const anonymous: Identity = { kind: 'anonymous' };
  const as = (user: Registered, role = Role.Owner): Identity => ({
    kind: 'user',
    userId: user.id,
    tenantId: user.organisation.id,
    roles: [role],
  });
  const tokenOf = (email: string) => new URL(links.get(email)!).searchParams.get('token')!;
  const register = async (email = `owner-${randomUUID()}@example.com`) => {
    const response = await under.ask<{ register: { user: Registered } }>(anonymous, REGISTER, {
      input: { email, password: PASSWORD, name: '  Ada  ', organisationName: 'Analytical Engines' },
    });
    expect(response.errors).toBeUndefined();
    return response.data!.register.user;
  };
  const check = (email: string, password = PASSWORD) =>
    under.ask<{ checkCredentials: Record<string, unknown> }>(anonymous, CHECK, { input: { email, password } });

  it('registers an OWNER of a new organisation, unverified, and refuses the same email again, in any case', async () => {
    const email = `Owner-${randomUUID()}@Example.com`;
    const user = await register(email);
    expect(user).toMatchObject({ email: email.toLowerCase(), name: 'Ada', role: 'OWNER', emailVerified: false, active: true });
    expect(user.organisation).toEqual({ id: expect.any(String), name: 'Analytical Engines' });
    const again = await under.ask(anonymous, REGISTER, {
      input: { email: email.toUpperCase(), password: PASSWORD, name: 'Eve', organisationName: 'Other' },
    });
    expect(again.data).toEqual({ register: { __typename: 'EmailAlreadyRegistered', email: email.toLowerCase() } });
  });

  it('verifies the email with the emailed link once, and refuses the link a second time and a forged one', async () => {
    const user = await register();
    const token = tokenOf(user.email);
    expect((await under.ask(anonymous, VERIFY, { token })).data).toEqual({
      verifyEmail: { __typename: 'User', id: user.id, emailVerified: true },
    });
    for (const reused of [token, 'forged'])
      expect((await under.ask(anonymous, VERIFY, { token: reused })).data).toMatchObject({
        verifyEmail: { __typename: 'InvalidVerificationToken' },
      });
    const resent = await under.ask(as(user), 'mutation { resendVerificationEmail }');
    expect(resent.data).toEqual({ resendVerificationEmail: false });
  });

  it('voids earlier links when a new one is sent', async () => {
    const user = await register();
    const first = tokenOf(user.email);
    expect((await under.ask(as(user), 'mutation { resendVerificationEmail }')).data).toEqual({ resendVerificationEmail: true });
    expect((await under.ask(anonymous, VERIFY, { token: first })).data).toMatchObject({
      verifyEmail: { __typename: 'InvalidVerificationToken' },
    });
    expect((await under.ask(anonymous, VERIFY, { token: tokenOf(user.email) })).data).toMatchObject({
      verifyEmail: { __typename: 'User' },
    });
  });

  it('checks credentials with typed failures: a wrong password and an unknown email read alike', async () => {
    const user = await register();
    expect((await check(user.email.toUpperCase())).data?.checkCredentials).toEqual({
      __typename: 'ValidCredentials',
      userId: user.id,
      tenantId: user.organisation.id,
      role: 'OWNER',
    });
    const standing = await under.ask<{ signInStanding: Record<string, unknown> }>(as(user), '{ signInStanding { __typename } }');
    expect(standing.data?.signInStanding).toEqual({ __typename: 'ValidCredentials' });
    const wrong = (await check(user.email, 'not the password')).data?.checkCredentials;
    const unknown = (await check(`nobody-${randomUUID()}@example.com`)).data?.checkCredentials;
    expect(wrong).toEqual({ __typename: 'InvalidCredentials', message: expect.any(String) });
    expect(unknown).toEqual(wrong);
  });

  it('lets an OWNER add users, deactivate and reactivate them; a deactivated user fails the credential check', async () => {
    const owner = await register();
    const email = `member-${randomUUID()}@example.com`;
    const created = await under.ask<{ createUser: { id: string } }>(as(owner), CREATE, {
      input: { email, password: PASSWORD, name: 'Member', role: 'MEMBER' },
    });
    const memberId = created.data!.createUser.id;
    expect(created.data?.createUser).toEqual({ __typename: 'User', id: memberId, role: 'MEMBER' });
    expect((await under.ask(as(owner), DEACTIVATE, { id: memberId })).data).toEqual({
      deactivateUser: { __typename: 'User', id: memberId, active: false },
    });
    expect((await check(email)).data?.checkCredentials).toMatchObject({ __typename: 'DeactivatedAccount' });
    expect((await check(email, 'wrong password!')).data?.checkCredentials).toMatchObject({ __typename: 'InvalidCredentials' });
    expect((await under.ask(as(owner), REACTIVATE, { id: memberId })).data).toEqual({
      reactivateUser: { __typename: 'User', id: memberId, active: true },
    });
    expect((await check(email)).data?.checkCredentials).toMatchObject({ __typename: 'ValidCredentials', role: 'MEMBER' });
    expect((await under.ask(as(owner), DEACTIVATE, { id: owner.id })).data).toMatchObject({
      deactivateUser: { __typename: 'UserChangeNotAllowed' },
    });
  });

  it('refuses user management to a MEMBER (FORBIDDEN) and every mutation to a VIEWER', async () => {
    const owner = await register();
    const member = as(owner, Role.Member);
    expect((await under.ask(member, DEACTIVATE, { id: owner.id })).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const viewer = as(owner, Role.Viewer);
    const renamed = await under.ask(viewer, 'mutation { updateProfile(input: { name: "Viewer" }) { id } }');
    expect(renamed.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const changed = await under.ask(viewer, CHANGE_PASSWORD, { input: { currentPassword: PASSWORD, newPassword: 'x'.repeat(12) } });
    expect(changed.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('changes a password only with the current one, and signs in with the new one', async () => {
    const owner = await register();
    const newPassword = 'a much longer passphrase';
    expect((await under.ask(as(owner), CHANGE_PASSWORD, { input: { currentPassword: 'wrong', newPassword } })).data).toMatchObject({
      changePassword: { __typename: 'IncorrectPassword' },
    });
    expect((await under.ask(as(owner), CHANGE_PASSWORD, { input: { currentPassword: PASSWORD, newPassword } })).data).toEqual({
      changePassword: { __typename: 'User', id: owner.id },
    });
    expect((await check(owner.email, newPassword)).data?.checkCredentials).toMatchObject({ __typename: 'ValidCredentials' });
    expect((await check(owner.email)).data?.checkCredentials).toMatchObject({ __typename: 'InvalidCredentials' });
  });

  it("shows another organisation none of an organisation's users, nor lets it deactivate them", async () => {
    const [a, b] = [await register(), await register()];
    expect((await under.ask(as(b), 'query ($id: ID!) { user(id: $id) { id } }', { id: a.id })).data).toEqual({ user: null });
    const listed = await under.ask<{ users: { id: string }[] }>(as(b), '{ users(first: 100) { id } }');
    expect(listed.data?.users).toEqual([{ id: b.id }]);
    expect((await under.ask(as(b), DEACTIVATE, { id: a.id })).data).toEqual({ deactivateUser: { __typename: 'UserNotFound', id: a.id } });
    expect((await check(a.email)).data?.checkCredentials).toMatchObject({ __typename: 'ValidCredentials' });
  });

  it('answers a short password, a malformed email and a malformed id with BAD_USER_INPUT naming the field', async () => {
    const short = await under.ask(anonymous, REGISTER, {
      input: { email: `x-${randomUUID()}@example.com`, password: 'short', name: 'X', organisationName: 'X' },
    });
    expect(short.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'input.password' } });
    const malformed = await under.ask(anonymous, REGISTER, {
      input: { email: 'not an email', password: PASSWORD, name: 'X', organisationName: 'X' },
    });
    expect(malformed.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'input.email' } });
    const owner = await register();
    expect((await under.ask(as(owner), DEACTIVATE, { id: 'nope' })).errors?.[0]).toMatchObject({
      extensions: { code: 'BAD_USER_INPUT', field: 'id' },
    });
    expect((await under.ask(anonymous, '{ me { id } }')).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(under.loggedErrors).toEqual([]);
  });
});
