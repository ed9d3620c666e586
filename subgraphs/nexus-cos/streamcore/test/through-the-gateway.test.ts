import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Role, type Identity } from '@nexusflow/kit';
import { postGraphQL } from '@nexusflow/kit/testing';
import { startGraphUnderTest, type GraphUnderTest } from '../../../../test/support/services.ts';

const CREATE = 'mutation ($input: ContentMetadataInput!) { createContent(input: $input) { id } }';
const REGISTER = `mutation ($id: ID!, $renditions: [RenditionInput!]!) { registerRenditions(contentId: $id, renditions: $renditions) {
  __typename ... on RenditionsRegistered { content { id renditions { label segmentDurationSeconds } } } ... on StreamContentNotFound { contentId } } }`;
const FIND = 'query ($id: ID!) { content(id: $id) { id status currentVersion { title } renditions { label storageKey } viewCount } }';
const START = `mutation ($input: StartPlaybackInput!) { startPlayback(input: $input) { __typename ... on ContentNotPlayable { reason } } }`;
const SESSIONS = '{ playbackSessions { id } }';

const RENDITION = {
  label: '1080p',
  width: 1920,
  height: 1080,
  bandwidth: 6_000_000,
  codecs: 'avc1.640028, mp4a.40.2',
  segmentDurationSeconds: 6.006,
  segmentCount: 10,
  storageKey: '1080p',
};

describe('the streamcore subgraph through the nexus-cos gateway', () => {
  let graph: GraphUnderTest;

  beforeAll(async () => {
    // key-service too: token-mgr, which signs the graph's tokens, keeps its keys wrapped by it.
    graph = await startGraphUnderTest('nexus-cos', ['key-service', 'content-management', 'streamcore'], { label: 'streamcore_gateway' });
  });

  afterAll(async () => {
    await graph?.close();
  });

  const user = (tenantId: string, roles: Role[]): Extract<Identity, { kind: 'user' }> => ({
    kind: 'user',
    userId: randomUUID(),
    tenantId,
    roles,
  });
  const send = async (identity: Extract<Identity, { kind: 'user' }>, query: string, variables?: Record<string, unknown>) =>
    postGraphQL<Record<string, any>>(graph.gateway.graphqlUrl, query, { token: await graph.tokenFor(identity), variables });

  it("joins a content's renditions from streamcore to its metadata from content-management", async () => {
    const member = user(randomUUID(), [Role.Member]);
    const { id } = (await send(member, CREATE, { input: { title: 'Joined', language: 'en' } })).data!.createContent;
    expect((await send(member, FIND, { id })).data?.content).toEqual({
      id,
      status: 'DRAFT',
      currentVersion: { title: 'Joined' },
      renditions: null,
      viewCount: null,
    });
    expect((await send(member, REGISTER, { id, renditions: [RENDITION] })).data?.registerRenditions).toEqual({
      __typename: 'RenditionsRegistered',
      content: { id, renditions: [{ label: '1080p', segmentDurationSeconds: 6.006 }] },
    });
    expect((await send(member, FIND, { id })).data?.content).toMatchObject({
      renditions: [{ label: '1080p', storageKey: '1080p' }],
      viewCount: 0,
    });
    expect((await send(member, START, { input: { contentId: id, region: 'DE' } })).data?.startPlayback).toEqual({
      __typename: 'ContentNotPlayable',
      reason: 'NOT_PUBLISHED',
    });
    expect((await send(member, SESSIONS)).data).toEqual({ playbackSessions: [] });
  });

  it("registers no renditions for another tenant's content, and refuses a VIEWER's playback with FORBIDDEN", async () => {
    const owner = user(randomUUID(), [Role.Owner]);
    const { id } = (await send(owner, CREATE, { input: { title: 'Mine', language: 'en' } })).data!.createContent;
    const stranger = user(randomUUID(), [Role.Owner]);
    expect((await send(stranger, REGISTER, { id, renditions: [RENDITION] })).data?.registerRenditions).toEqual({
      __typename: 'StreamContentNotFound',
      contentId: id,
    });
    const viewer = user(owner.tenantId, [Role.Viewer]);
    const refused = await send(viewer, START, { input: { contentId: id, region: 'DE' } });
    expect(refused.errors?.map((error) => error.extensions?.code)).toEqual(['FORBIDDEN']);
  });
});
