import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Role, type Identity } from '@nexusflow/kit';
import { startSubgraphUnderTest, type SubgraphUnderTest } from '@nexusflow/kit/testing';
import type { UserAuthServices } from '../src/context.ts';
import { subgraph } from '../src/subgraph.ts';

const CREATE = 'mutation ($input: CreateUserInput!) { createUser(input: $input) { id name createdAt } }';
const LIST = 'query ($first: Int) { users(first: $first) { id name } }';
const FIND = 'query ($id: ID!) { user(id: $id) { id name } }';

const member = (tenantId: string, roles = [Role.Member]): Identity => ({ kind: 'user', userId: randomUUID(), tenantId, roles });

describe('the user-auth subgraph', () => {
  let under: SubgraphUnderTest<UserAuthServices>;

  beforeAll(async () => {
    under = await startSubgraphUnderTest('user-auth-behaviour', (env) => subgraph.start(env));
  });

  afterAll(async () => {
    await under?.close();
  });

  const create = (identity: Identity, name: string) =>
    under.ask<{ createUser: { id: string; name: string } }>(identity, CREATE, { input: { name } });

  it('creates a User that its tenant finds by id and in its list', async () => {
    const tenantA = member(randomUUID());
    const first = (await create(tenantA, '  First  ')).data!.createUser;
    const second = (await create(tenantA, 'Second')).data!.createUser;
    expect(first.name).toBe('First');
    expect((await under.ask(tenantA, FIND, { id: first.id })).data).toEqual({ user: { id: first.id, name: 'First' } });
    const listed = await under.ask<{ users: { id: string }[] }>(tenantA, LIST, {});
    expect(listed.data?.users.map(({ id }) => id).sort()).toEqual([first.id, second.id].sort());
    expect((await under.ask<{ users: unknown[] }>(tenantA, LIST, { first: 1 })).data?.users).toHaveLength(1);
  });

  it("shows another tenant none of a tenant's users", async () => {
    const [tenantA, tenantB] = [member(randomUUID()), member(randomUUID())];
    const created = await create(tenantA, 'Private');
    expect((await under.ask(tenantB, FIND, { id: created.data?.createUser.id })).data).toEqual({ user: null });
    expect((await under.ask(tenantB, LIST, {})).data).toEqual({ users: [] });
  });

  it('refuses a VIEWER with FORBIDDEN and an anonymous caller with UNAUTHENTICATED, storing nothing', async () => {
    const viewer = member(randomUUID(), [Role.Viewer]);
    const refused = await create(viewer, 'Not allowed');
    expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const anonymous = await under.ask({ kind: 'anonymous' }, CREATE, { input: { name: 'Nobody' } });
    expect(anonymous.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect((await under.ask(viewer, LIST, {})).data).toEqual({ users: [] });
  });

  it('answers a blank name and a malformed id with BAD_USER_INPUT naming the field, logging no error', async () => {
    const tenantA = member(randomUUID());
    const blank = await create(tenantA, '   ');
    expect(blank.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'name' } });
    const malformed = await under.ask(tenantA, FIND, { id: 'not-a-uuid' });
    expect(malformed.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'id' } });
    expect(under.loggedErrors).toEqual([]);
  });
});
