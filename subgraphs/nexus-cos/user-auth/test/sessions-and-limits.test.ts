import { randomUUID } from 'node:crypto';
import { wrap } from '@mikro-orm/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Role, signIdentity, systemFork, type Identity, type RunningSubgraph } from '@nexusflow/kit';
import { postGraphQL, storageModes } from '@nexusflow/kit/testing';
import { startServices, TestServices } from '../../../../test/support/services.ts';
import type { UserAuthServices } from '../src/context.ts';
import { User } from '../src/entities/user.entity.ts';

const PASSWORD = 'correct horse battery';
const REGISTER = `mutation ($input: RegisterInput!) { register(input: $input) {
  __typename ... on Registered { user { id organisation { id } } } } }`;
const CREATE_USER = `mutation ($input: CreateUserInput!) { createUser(input: $input) { ... on User { id } } }`;
const DEACTIVATE = `mutation ($id: ID!) { deactivateUser(id: $id) { __typename } }`;
const CHANGE_PASSWORD = `mutation ($input: ChangePasswordInput!) { changePassword(input: $input) { __typename } }`;
const RESEND = 'mutation { resendVerificationEmail }';
const CREATE_SESSION = `mutation ($input: CreateSessionInput!) { createSession(input: $input) { session { id } refreshToken } }`;
const ROTATE = `mutation ($refreshToken: String!) { rotateRefreshToken(refreshToken: $refreshToken) {
  __typename ... on RejectedRefreshToken { reason } } }`;

type Holder = Extract<Identity, { kind: 'user' }>;

describe.each(storageModes(['postgres', 'redis']))("user-auth ending a user's sessions, and its rate limits, on $storage", ({ mode }) => {
  let services: TestServices;
  let userAuth: RunningSubgraph<UserAuthServices>;
  let sessionMgr: RunningSubgraph<unknown>;

  beforeAll(async () => {
    services = await TestServices.create(mode, `user_auth_sessions_${mode}`);
    const running: Record<string, RunningSubgraph<unknown>> = {};
    await startServices(services, 'nexus-cos', ['key-service', 'token-mgr', 'session-mgr', 'user-auth'], running, {
      'token-mgr': { ROTATE_KEYS: 'off' },
      'user-auth': {
        REGISTER_RATE_LIMIT_PER_ADDRESS: '3',
        RESEND_VERIFICATION_RATE_LIMIT_PER_ACCOUNT: '2',
        CHANGE_PASSWORD_RATE_LIMIT_PER_ACCOUNT: '3',
      },
    });
    userAuth = running['user-auth'] as RunningSubgraph<UserAuthServices>;
    sessionMgr = running['session-mgr']!;
  });

  afterAll(async () => {
    await services?.close();
  });

  const ask = <T = Record<string, any>>(
    to: RunningSubgraph<unknown>,
    identity: Identity,
    query: string,
    variables: Record<string, unknown> = {},
    clientAddress?: string,
  ) =>
    postGraphQL<T>(to.graphqlUrl, query, {
      variables,
      headers: signIdentity(identity, to.config.internalSecret, Date.now(), clientAddress),
    });
  const data = async (to: RunningSubgraph<unknown>, identity: Identity, query: string, variables: Record<string, unknown> = {}) => {
    const response = await ask(to, identity, query, variables);
    expect(response.errors).toBeUndefined();
    return response.data!;
  };
  const register = async (clientAddress?: string): Promise<Holder> => {
    const input = { email: `owner-${randomUUID()}@example.com`, password: PASSWORD, name: 'Ada', organisationName: 'Engines' };
    const response = await ask(userAuth, { kind: 'anonymous' }, REGISTER, { input }, clientAddress);
    expect(response.errors).toBeUndefined();
    const { id, organisation } = response.data!.register.user;
    return { kind: 'user', userId: id, tenantId: organisation.id, roles: [Role.Owner] };
  };
  const signIn = async (holder: Holder) =>
    (await data(sessionMgr, holder, CREATE_SESSION, { input: {} })).createSession.refreshToken as string;
  const refresh = async (refreshToken: string) =>
    (await data(sessionMgr, { kind: 'anonymous' }, ROTATE, { refreshToken })).rotateRefreshToken;
  const changePassword = (holder: Holder, currentPassword: string) =>
    ask(userAuth, holder, CHANGE_PASSWORD, { input: { currentPassword, newPassword: `${PASSWORD} renewed` } });

  it('ends every session of a user who changes their password, and of a deactivated user, through session-mgr', async () => {
    const owner = await register();
    const [first, second] = [await signIn(owner), await signIn(owner)];
    expect((await changePassword(owner, PASSWORD)).data).toEqual({ changePassword: { __typename: 'User' } });
    for (const refreshToken of [first, second])
      expect(await refresh(refreshToken)).toEqual({ __typename: 'RejectedRefreshToken', reason: 'REVOKED' });

    const input = { email: `member-${randomUUID()}@example.com`, password: PASSWORD, name: 'Bo', role: 'MEMBER' };
    const memberId = (await data(userAuth, owner, CREATE_USER, { input })).createUser.id as string;
    const member: Holder = { kind: 'user', userId: memberId, tenantId: owner.tenantId, roles: [Role.Member] };
    const memberSession = await signIn(member);
    expect((await data(userAuth, owner, DEACTIVATE, { id: memberId })).deactivateUser).toEqual({ __typename: 'User' });
    expect(await refresh(memberSession)).toEqual({ __typename: 'RejectedRefreshToken', reason: 'REVOKED' });
  });

  it('limits registrations per client address, and resent links and password changes per account, with RATE_LIMITED', async () => {
    const address = `198.51.100.${Math.floor(Math.random() * 250) + 1}`;
    const owner = await register(address);
    await register(address);
    await register(address);
    const input = { email: `fourth-${randomUUID()}@example.com`, password: PASSWORD, name: 'Ada', organisationName: 'Engines' };
    const fourth = await ask(userAuth, { kind: 'anonymous' }, REGISTER, { input }, address);
    expect(fourth.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: expect.any(Number) });
    await register(`${address}0`);

    expect((await ask(userAuth, owner, RESEND)).data).toEqual({ resendVerificationEmail: true });
    expect((await ask(userAuth, owner, RESEND)).data).toEqual({ resendVerificationEmail: true });
    expect((await ask(userAuth, owner, RESEND)).errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');

    for (let attempt = 0; attempt < 3; attempt++) {
      expect((await changePassword(owner, 'a wrong guess')).data?.changePassword.__typename).toBe('IncorrectPassword');
    }
    expect((await changePassword(owner, PASSWORD)).errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
  });

  it('never serializes a password hash, even once loaded', async () => {
    const owner = await register();
    const user = await systemFork(userAuth.database).findOneOrFail(User, { id: owner.userId }, { populate: ['passwordHash'] });
    expect(user.passwordHash).toMatch(/^scrypt\$/);
    expect(wrap(user).toObject()).not.toHaveProperty('passwordHash');
    expect(JSON.stringify(user)).not.toContain('scrypt');
  });
});
