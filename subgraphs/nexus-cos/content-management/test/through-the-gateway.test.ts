import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Role } from '@nexusflow/kit';
import { postGraphQL } from '@nexusflow/kit/testing';
import { startGraphUnderTest, type GraphUnderTest } from '../../../../test/support/services.ts';

const CREATE = 'mutation ($input: ContentMetadataInput!) { createContent(input: $input) { id status currentVersion { title } } }';
const UPDATE = `mutation ($id: ID!, $input: ContentMetadataInput!) { updateContentMetadata(id: $id, input: $input) {
  __typename ... on Content { currentVersion { number title } } } }`;
const SUBMIT = 'mutation ($id: ID!) { submitContentForReview(id: $id) { __typename ... on Content { status } } }';
const REJECT = `mutation ($id: ID!, $reason: String!) { rejectContent(id: $id, reason: $reason) {
  __typename ... on Content { status rejectionReason } } }`;
const ADD_WINDOW = `mutation ($id: ID!, $input: RightsWindowInput!) { addRightsWindow(contentId: $id, input: $input) {
  __typename ... on Content { rightsWindows { id regions } } } }`;
const REMOVE_WINDOW = `mutation ($id: ID!, $windowId: ID!) { removeRightsWindow(contentId: $id, windowId: $windowId) {
  __typename ... on Content { rightsWindows { id } } ... on ContentNotFound { id } } }`;
const LIST = '{ contents(first: 100) { id status } }';
const FIND = 'query ($id: ID!) { content(id: $id) { id status versions { number } } }';
const PLAYABILITY = 'query ($id: ID!) { contentPlayability(contentId: $id, region: "DE") { playable } }';

describe('the content-management subgraph through the nexus-cos gateway', () => {
  let graph: GraphUnderTest;

  beforeAll(async () => {
    // key-service too: token-mgr, which signs the graph's tokens, keeps its keys wrapped by it.
    graph = await startGraphUnderTest('nexus-cos', ['key-service', 'content-management'], { label: 'content-management_gateway' });
  });

  afterAll(async () => {
    await graph?.close();
  });

  const send = async (roles: Role[], tenantId: string, query: string, variables?: Record<string, unknown>) =>
    postGraphQL<Record<string, any>>(graph.gateway.graphqlUrl, query, {
      token: await graph.tokenFor({ kind: 'user', userId: randomUUID(), tenantId, roles }),
      variables,
    });

  it('drafts, edits, submits and rejects a content, and lists and finds it, for its tenant', async () => {
    const tenantId = randomUUID();
    const metadata = { title: 'Through the gateway', language: 'en' };
    const created = (await send([Role.Admin], tenantId, CREATE, { input: metadata })).data!.createContent;
    expect(created).toEqual({ id: expect.any(String), status: 'DRAFT', currentVersion: { title: 'Through the gateway' } });
    const edited = await send([Role.Admin], tenantId, UPDATE, { id: created.id, input: { ...metadata, title: 'Edited' } });
    expect(edited.data?.updateContentMetadata).toEqual({ __typename: 'Content', currentVersion: { number: 2, title: 'Edited' } });
    await send([Role.Admin], tenantId, SUBMIT, { id: created.id });
    expect((await send([Role.Owner], tenantId, REJECT, { id: created.id, reason: 'Too short' })).data?.rejectContent).toEqual({
      __typename: 'Content',
      status: 'DRAFT',
      rejectionReason: 'Too short',
    });
    expect((await send([Role.Viewer], tenantId, LIST)).data).toEqual({ contents: [{ id: created.id, status: 'DRAFT' }] });
    expect((await send([Role.Viewer], tenantId, FIND, { id: created.id })).data).toEqual({
      content: { id: created.id, status: 'DRAFT', versions: [{ number: 2 }, { number: 1 }] },
    });
  });

  it('grants and withdraws rights windows', async () => {
    const tenantId = randomUUID();
    const { id } = (await send([Role.Owner], tenantId, CREATE, { input: { title: 'Rights', language: 'en' } })).data!.createContent;
    const added = await send([Role.Owner], tenantId, ADD_WINDOW, { id, input: { startsAt: new Date().toISOString(), regions: ['DE'] } });
    const [window] = added.data!.addRightsWindow.rightsWindows;
    expect(window).toEqual({ id: expect.any(String), regions: ['DE'] });
    expect((await send([Role.Owner], tenantId, REMOVE_WINDOW, { id, windowId: window.id })).data?.removeRightsWindow).toEqual({
      __typename: 'Content',
      rightsWindows: [],
    });
  });

  it("refuses a VIEWER's create with FORBIDDEN, a request without a token with UNAUTHENTICATED, and hides the internal query", async () => {
    const refused = await send([Role.Viewer], randomUUID(), CREATE, { input: { title: 'Not allowed', language: 'en' } });
    expect(refused.errors?.map((error) => error.extensions?.code)).toEqual(['FORBIDDEN']);
    const anonymous = await postGraphQL(graph.gateway.graphqlUrl, CREATE, { variables: { input: { title: 'Nobody', language: 'en' } } });
    expect(anonymous.errors?.map((error) => error.extensions?.code)).toEqual(['UNAUTHENTICATED']);
    const internal = await send([Role.Owner], randomUUID(), PLAYABILITY, { id: randomUUID() });
    expect(internal.errors?.map((error) => error.extensions?.code)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
  });
});
