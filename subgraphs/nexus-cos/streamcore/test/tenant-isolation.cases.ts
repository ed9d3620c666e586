import { expect } from 'vitest';
import { defineIsolationCases } from '../../../../test/support/tenant-isolation.ts';

const RENDITION = {
  label: '720p',
  width: 1280,
  height: 720,
  bandwidth: 3_000_000,
  codecs: 'avc1.64001f,mp4a.40.2',
  segmentDurationSeconds: 4,
  segmentCount: 3,
  storageKey: '720p',
};
const REGISTER = `mutation ($id: ID!, $renditions: [RenditionInput!]!) { registerRenditions(contentId: $id, renditions: $renditions) {
  __typename ... on StreamContentNotFound { contentId } } }`;
const SESSIONS = '{ playbackSessions(first: 100, includeEnded: true) { id endedAt } }';
const CONTENT = 'query ($id: ID!) { content(id: $id) { id renditions { label bandwidth } viewCount } }';

/**
 * Tenant B (a stranger) never sees, nor changes, tenant A's renditions and playback sessions: run by
 * test/integration/tenant-isolation.test.ts. Tenant A's content is published by A, so that A has a live session.
 */
export const isolationCases = defineIsolationCases({
  async setUp({ a, data }) {
    const { id } = (await data(a, 'mutation { createContent(input: { title: "Tenant A only", language: "en" }) { id } }')).createContent;
    for (const step of ['submitContentForReview', 'approveContent'])
      await data(a, `mutation ($id: ID!) { ${step}(id: $id) { __typename } }`, { id });
    await data(
      a,
      'mutation ($id: ID!) { publishContent(id: $id, rightsWindows: [{ startsAt: "2020-01-01T00:00:00Z", regions: ["DE"] }]) { __typename } }',
      { id },
    );
    await data(a, REGISTER, { id, renditions: [RENDITION] });
    const started = await data(
      a,
      'mutation ($id: ID!) { startPlayback(input: { contentId: $id, region: "DE" }) { ... on PlaybackSession { id } } }',
      { id },
    );
    return { id, sessionId: started.startPlayback.id as string };
  },
  stateOfA: async ({ a, data }, { id }) => ({ ...(await data(a, SESSIONS)), ...(await data(a, CONTENT, { id })) }),
  root: {
    'Query.playbackSessions': async ({ b, data }) => {
      expect((await data(b, SESSIONS)).playbackSessions).toEqual([]);
    },
    'Mutation.registerRenditions': async ({ b, data }, { id }) => {
      expect((await data(b, REGISTER, { id, renditions: [{ ...RENDITION, bandwidth: 1000 }] })).registerRenditions).toEqual({
        __typename: 'StreamContentNotFound',
        contentId: id,
      });
    },
    'Mutation.startPlayback': async ({ b, data }, { id }) => {
      const query =
        'mutation ($id: ID!) { startPlayback(input: { contentId: $id, region: "DE" }) { __typename ... on ContentNotPlayable { reason } } }';
      expect((await data(b, query, { id })).startPlayback).toEqual({ __typename: 'ContentNotPlayable', reason: 'NOT_FOUND' });
    },
    'Mutation.heartbeatPlayback': async ({ b, data }, { sessionId }) => {
      const query = 'mutation ($id: ID!) { heartbeatPlayback(sessionId: $id) { __typename } }';
      expect((await data(b, query, { id: sessionId })).heartbeatPlayback.__typename).toBe('PlaybackSessionEnded');
    },
    'Mutation.stopPlayback': async ({ b, data }, { sessionId }) => {
      const query = 'mutation ($id: ID!) { stopPlayback(sessionId: $id) { __typename } }';
      expect((await data(b, query, { id: sessionId })).stopPlayback.__typename).toBe('PlaybackSessionEnded');
    },
    'Subscription.contentViewCount': async ({ b, subscribe }, { id }) => {
      const counts = subscribe(b, 'subscription ($id: ID!) { contentViewCount(contentId: $id) { viewers } }', { id });
      // A stranger counts no viewers of tenant A's content: its sessions are not in B's tenant.
      expect((await counts.next()).value?.data).toEqual({ contentViewCount: { viewers: 0 } });
      await counts.return?.();
    },
  },
  entities: { Content: { selection: '... on Content { id renditions { label } viewCount }', id: ({ id }) => id } },
});
