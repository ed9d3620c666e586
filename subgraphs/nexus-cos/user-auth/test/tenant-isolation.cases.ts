import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import { defineIsolationCases } from '../../../../test/support/tenant-isolation.ts';

const PASSWORD = 'correct horse battery';
const CREATE = `mutation ($input: CreateUserInput!) { createUser(input: $input) { __typename ... on User { id } } }`;
const LIST = '{ users(first: 100) { id name role active } }';
const STATUS = `{ __typename ... on UserNotFound { id } }`;

/** Tenant B (a stranger) never sees, nor changes, tenant A's users. */
export const isolationCases = defineIsolationCases({
  async setUp({ a, data }) {
    const input = { email: `isolated-${randomUUID()}@example.com`, password: PASSWORD, name: 'Tenant A only', role: 'MEMBER' };
    return { id: (await data(a, CREATE, { input })).createUser.id as string };
  },
  stateOfA: ({ a, data }) => data(a, LIST),
  root: {
    'Query.me': async ({ b, data }) => {
      expect((await data(b, '{ me { id } }')).me.id).toBe(b.userId);
    },
    'Query.users': async ({ b, data }) => {
      const users = (await data(b, LIST)).users as { id: string }[];
      expect(users.map((user) => user.id)).toEqual([b.userId]);
    },
    'Query.user': async ({ b, data }, { id }) => {
      expect((await data(b, 'query ($id: ID!) { user(id: $id) { id } }', { id })).user).toBeNull();
    },
    'Mutation.register': async ({ b, data }) => {
      // Registering makes an organisation of its own, whoever sends it.
      const input = { email: `stranger-${randomUUID()}@example.com`, password: PASSWORD, name: 'B', organisationName: 'B' };
      const registered = await data(b, 'mutation ($input: RegisterInput!) { register(input: $input) { __typename } }', { input });
      expect(registered.register).toEqual({ __typename: 'Registered' });
    },
    'Mutation.verifyEmail': async ({ b, data }) => {
      expect((await data(b, 'mutation { verifyEmail(token: "not-a-token") { __typename } }')).verifyEmail.__typename).toBe(
        'InvalidVerificationToken',
      );
    },
    'Mutation.resendVerificationEmail': async ({ b, data }) => {
      expect(typeof (await data(b, 'mutation { resendVerificationEmail }')).resendVerificationEmail).toBe('boolean');
    },
    'Mutation.updateProfile': async ({ b, data }) => {
      expect((await data(b, 'mutation { updateProfile(input: { name: "B" }) { id } }')).updateProfile.id).toBe(b.userId);
    },
    'Mutation.changePassword': async ({ b, data }) => {
      const input = { currentPassword: 'not the password', newPassword: 'another long password' };
      const changed = await data(b, 'mutation ($input: ChangePasswordInput!) { changePassword(input: $input) { __typename } }', { input });
      expect(changed.changePassword.__typename).toBe('IncorrectPassword');
    },
    'Mutation.createUser': async ({ b, data }) => {
      const input = { email: `b-${randomUUID()}@example.com`, password: PASSWORD, name: 'B member', role: 'MEMBER' };
      expect((await data(b, CREATE, { input })).createUser.__typename).toBe('User');
    },
    'Mutation.deactivateUser': async ({ b, data }, { id }) => {
      expect((await data(b, `mutation ($id: ID!) { deactivateUser(id: $id) ${STATUS} }`, { id })).deactivateUser).toEqual({
        __typename: 'UserNotFound',
        id,
      });
    },
    'Mutation.reactivateUser': async ({ b, data }, { id }) => {
      expect((await data(b, `mutation ($id: ID!) { reactivateUser(id: $id) ${STATUS} }`, { id })).reactivateUser).toEqual({
        __typename: 'UserNotFound',
        id,
      });
    },
  },
  entities: { User: { selection: '... on User { id email name }', id: ({ id }) => id } },
});
