import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Role, type Identity } from '@nexusflow/kit';
import { startSubgraphUnderTest, type SubgraphUnderTest } from '@nexusflow/kit/testing';
import type { AuthServiceServices } from '../src/context.ts';
import { subgraph } from '../src/subgraph.ts';

const CREATE = 'mutation ($input: CreateLoginAttemptInput!) { createLoginAttempt(input: $input) { id name createdAt } }';
const LIST = 'query ($first: Int) { loginAttempts(first: $first) { id name } }';
const FIND = 'query ($id: ID!) { loginAttempt(id: $id) { id name } }';

const member = (tenantId: string, roles = [Role.Member]): Identity => ({ kind: 'user', userId: randomUUID(), tenantId, roles });

describe('the auth-service subgraph', () => {
  let under: SubgraphUnderTest<AuthServiceServices>;

  beforeAll(async () => {
    under = await startSubgraphUnderTest('auth-service-behaviour', (env) => subgraph.start(env));
  });

  afterAll(async () => {
    await under?.close();
  });

  const create = (identity: Identity, name: string) =>
    under.ask<{ createLoginAttempt: { id: string; name: string } }>(identity, CREATE, { input: { name } });

  it('creates a LoginAttempt that its tenant finds by id and in its list', async () => {
    const tenantA = member(randomUUID());
    const first = (await create(tenantA, '  First  ')).data!.createLoginAttempt;
    const second = (await create(tenantA, 'Second')).data!.createLoginAttempt;
    expect(first.name).toBe('First');
    expect((await under.ask(tenantA, FIND, { id: first.id })).data).toEqual({ loginAttempt: { id: first.id, name: 'First' } });
    const listed = await under.ask<{ loginAttempts: { id: string }[] }>(tenantA, LIST, {});
    expect(listed.data?.loginAttempts.map(({ id }) => id).sort()).toEqual([first.id, second.id].sort());
    expect((await under.ask<{ loginAttempts: unknown[] }>(tenantA, LIST, { first: 1 })).data?.loginAttempts).toHaveLength(1);
  });

  it("shows another tenant none of a tenant's loginAttempts", async () => {
    const [tenantA, tenantB] = [member(randomUUID()), member(randomUUID())];
    const created = await create(tenantA, 'Private');
    expect((await under.ask(tenantB, FIND, { id: created.data?.createLoginAttempt.id })).data).toEqual({ loginAttempt: null });
    expect((await under.ask(tenantB, LIST, {})).data).toEqual({ loginAttempts: [] });
  });

  it('refuses a VIEWER with FORBIDDEN and an anonymous caller with UNAUTHENTICATED, storing nothing', async () => {
    const viewer = member(randomUUID(), [Role.Viewer]);
    const refused = await create(viewer, 'Not allowed');
    expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const anonymous = await under.ask({ kind: 'anonymous' }, CREATE, { input: { name: 'Nobody' } });
    expect(anonymous.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect((await under.ask(viewer, LIST, {})).data).toEqual({ loginAttempts: [] });
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
