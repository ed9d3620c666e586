import { randomUUID } from 'node:crypto';
import { expect } from 'vitest';
import { defineIsolationCases } from '../../../../test/support/tenant-isolation.ts';

const CONTENT = 'id status currentVersion { number title } rightsWindows { id regions }';
const CHANGED = `{ __typename ... on Content { ${CONTENT} } ... on ContentNotFound { id } ... on InvalidContentTransition { from } }`;
const WINDOW_CHANGED = `{ __typename ... on Content { ${CONTENT} } ... on ContentNotFound { id } }`;
const CREATE = `mutation ($input: ContentMetadataInput!) { createContent(input: $input) { ${CONTENT} } }`;
const LIST = `{ contents(first: 100) { ${CONTENT} } }`;
const FIND = `query ($id: ID!) { content(id: $id) { ${CONTENT} } }`;
const WINDOW = { startsAt: '2026-01-01T00:00:00.000Z', regions: ['DE'] };
const METADATA = { title: 'Tenant A only', language: 'en' };

/** Tenant B (a stranger) never sees, nor changes, tenant A's contents: run by test/integration/tenant-isolation.test.ts. */
export const isolationCases = defineIsolationCases({
  async setUp({ a, data }) {
    const { id } = (await data(a, CREATE, { input: METADATA })).createContent;
    await data(a, `mutation ($id: ID!) { submitContentForReview(id: $id) { __typename } }`, { id });
    const { id: published } = (await data(a, CREATE, { input: METADATA })).createContent;
    for (const step of ['submitContentForReview', 'approveContent'])
      await data(a, `mutation ($id: ID!) { ${step}(id: $id) { __typename } }`, { id: published });
    const publish = `mutation ($id: ID!, $windows: [RightsWindowInput!]) { publishContent(id: $id, rightsWindows: $windows) ${CHANGED} }`;
    const windows = (await data(a, publish, { id: published, windows: [WINDOW] })).publishContent.rightsWindows;
    return { id, published, windowId: windows[0].id as string };
  },
  stateOfA: ({ a, data }) => data(a, LIST),
  root: {
    'Query.contents': async ({ b, data }) => {
      expect((await data(b, LIST)).contents).toEqual([]);
    },
    'Query.content': async ({ b, data }, { id }) => {
      expect((await data(b, FIND, { id })).content).toBeNull();
    },
    'Mutation.createContent': async ({ b, data }) => {
      expect((await data(b, CREATE, { input: { ...METADATA, title: 'Tenant B' } })).createContent.currentVersion.title).toBe('Tenant B');
    },
    'Mutation.updateContentMetadata': async ({ b, data }, { id }) => {
      const query = `mutation ($id: ID!, $input: ContentMetadataInput!) { updateContentMetadata(id: $id, input: $input) ${CHANGED} }`;
      expect((await data(b, query, { id, input: METADATA })).updateContentMetadata).toEqual({ __typename: 'ContentNotFound', id });
    },
    'Mutation.submitContentForReview': async ({ b, data }, { id }) => {
      expect(
        (await data(b, `mutation ($id: ID!) { submitContentForReview(id: $id) ${CHANGED} }`, { id })).submitContentForReview.__typename,
      ).toBe('ContentNotFound');
    },
    'Mutation.approveContent': async ({ b, data }, { id }) => {
      expect((await data(b, `mutation ($id: ID!) { approveContent(id: $id) ${CHANGED} }`, { id })).approveContent.__typename).toBe(
        'ContentNotFound',
      );
    },
    'Mutation.rejectContent': async ({ b, data }, { id }) => {
      const query = `mutation ($id: ID!) { rejectContent(id: $id, reason: "No") ${CHANGED} }`;
      expect((await data(b, query, { id })).rejectContent.__typename).toBe('ContentNotFound');
    },
    'Mutation.publishContent': async ({ b, data }, { id }) => {
      expect((await data(b, `mutation ($id: ID!) { publishContent(id: $id) ${CHANGED} }`, { id })).publishContent.__typename).toBe(
        'ContentNotFound',
      );
    },
    'Mutation.archiveContent': async ({ b, data }, { published }) => {
      const query = `mutation ($id: ID!) { archiveContent(id: $id) ${CHANGED} }`;
      expect((await data(b, query, { id: published })).archiveContent.__typename).toBe('ContentNotFound');
    },
    'Mutation.addRightsWindow': async ({ b, data }, { published }) => {
      const query = `mutation ($id: ID!, $input: RightsWindowInput!) { addRightsWindow(contentId: $id, input: $input) ${WINDOW_CHANGED} }`;
      expect((await data(b, query, { id: published, input: WINDOW })).addRightsWindow.__typename).toBe('ContentNotFound');
    },
    'Mutation.removeRightsWindow': async ({ b, data }, { published, windowId }) => {
      const query = `mutation ($id: ID!, $windowId: ID!) { removeRightsWindow(contentId: $id, windowId: $windowId) ${WINDOW_CHANGED} }`;
      expect((await data(b, query, { id: published, windowId })).removeRightsWindow.__typename).toBe('ContentNotFound');
      expect((await data(b, query, { id: randomUUID(), windowId })).removeRightsWindow.__typename).toBe('ContentNotFound');
    },
  },
  entities: { Content: { selection: '... on Content { id status currentVersion { title } }', id: ({ id }) => id } },
});
