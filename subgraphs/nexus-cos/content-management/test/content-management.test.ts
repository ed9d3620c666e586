import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Role, type Identity } from '@nexusflow/kit';
import { startSubgraphUnderTest, type SubgraphUnderTest } from '@nexusflow/kit/testing';
import type { ContentManagementServices } from '../src/context.ts';
import { subgraph } from '../src/subgraph.ts';

const CONTENT = `id status creatorId rejectionReason publishedAt
  currentVersion { number title description tags language durationSeconds }
  publishedVersion { number title } versions { number title } rightsWindows { id startsAt endsAt regions }`;
const RESULT = `{ __typename ... on Content { ${CONTENT} } ... on ContentNotFound { id }
  ... on InvalidContentTransition { from to allowed message } }`;
const CREATE = `mutation ($input: ContentMetadataInput!) { createContent(input: $input) { ${CONTENT} } }`;
const UPDATE = `mutation ($id: ID!, $input: ContentMetadataInput!) { updateContentMetadata(id: $id, input: $input) ${RESULT} }`;
const SUBMIT = `mutation ($id: ID!) { submitContentForReview(id: $id) ${RESULT} }`;
const APPROVE = `mutation ($id: ID!) { approveContent(id: $id) ${RESULT} }`;
const REJECT = `mutation ($id: ID!, $reason: String!) { rejectContent(id: $id, reason: $reason) ${RESULT} }`;
const PUBLISH = `mutation ($id: ID!, $windows: [RightsWindowInput!]) { publishContent(id: $id, rightsWindows: $windows) ${RESULT} }`;
const ARCHIVE = `mutation ($id: ID!) { archiveContent(id: $id) ${RESULT} }`;
const ADD_WINDOW = `mutation ($id: ID!, $input: RightsWindowInput!) { addRightsWindow(contentId: $id, input: $input) {
  __typename ... on Content { rightsWindows { id regions } } } }`;
const REMOVE_WINDOW = `mutation ($id: ID!, $windowId: ID!) { removeRightsWindow(contentId: $id, windowId: $windowId) {
  __typename ... on Content { rightsWindows { id } } } }`;
const LIST = 'query ($status: ContentStatus) { contents(first: 100, status: $status) { id status } }';
const FIND = `query ($id: ID!) { content(id: $id) { ${CONTENT} } }`;
const PLAYABILITY = `query ($id: ID!, $region: String!, $at: DateTime) {
  contentPlayability(contentId: $id, region: $region, at: $at) { playable refusal title durationSeconds availableUntil } }`;

const METADATA = {
  title: 'The Long Take',
  description: 'A film in one shot.',
  tags: ['Drama', 'drama', 'one-shot'],
  language: 'pt-br',
  durationSeconds: 5400,
};
const DAY_MS = 86_400_000;

const person = (tenantId: string, roles: Role[]): Extract<Identity, { kind: 'user' }> => ({
  kind: 'user',
  userId: randomUUID(),
  tenantId,
  roles,
});

describe('the content-management subgraph', () => {
  let under: SubgraphUnderTest<ContentManagementServices>;
  let clock = Date.parse('2026-03-01T12:00:00.000Z');

  beforeAll(async () => {
    under = await startSubgraphUnderTest('content-management-behaviour', (env) => subgraph.start(env, { clock: () => clock }));
  });

  afterAll(async () => {
    await under?.close();
  });

  const data = async (identity: Identity, query: string, variables: Record<string, unknown> = {}) => {
    const response = await under.ask<Record<string, any>>(identity, query, variables);
    expect(response.errors, query).toBeUndefined();
    return response.data!;
  };
  const codes = async (identity: Identity, query: string, variables: Record<string, unknown> = {}) =>
    (await under.ask(identity, query, variables)).errors?.map((error) => error.extensions?.code);

  it('takes a content from draft through review to publication, each edit a new version, the published one fixed', async () => {
    const tenantId = randomUUID();
    const [creator, admin] = [person(tenantId, [Role.Member]), person(tenantId, [Role.Admin])];
    const created = (await data(creator, CREATE, { input: METADATA })).createContent;
    expect(created).toMatchObject({ status: 'DRAFT', creatorId: creator.userId, publishedVersion: null });
    expect(created.currentVersion).toEqual({
      number: 1,
      title: 'The Long Take',
      description: 'A film in one shot.',
      tags: ['drama', 'one-shot'],
      language: 'pt-BR',
      durationSeconds: 5400,
    });
    const edited = (await data(creator, UPDATE, { id: created.id, input: { ...METADATA, title: 'The Longest Take' } }))
      .updateContentMetadata;
    expect(edited.versions).toEqual([
      { number: 2, title: 'The Longest Take' },
      { number: 1, title: 'The Long Take' },
    ]);
    expect((await data(creator, SUBMIT, { id: created.id })).submitContentForReview.status).toBe('IN_REVIEW');
    expect((await data(admin, APPROVE, { id: created.id })).approveContent.status).toBe('APPROVED');
    const window = { startsAt: new Date(clock).toISOString(), endsAt: new Date(clock + DAY_MS).toISOString(), regions: ['de', 'AT'] };
    const published = (await data(admin, PUBLISH, { id: created.id, windows: [window] })).publishContent;
    expect(published).toMatchObject({ status: 'PUBLISHED', publishedAt: new Date(clock).toISOString(), publishedVersion: { number: 2 } });
    expect(published.rightsWindows).toEqual([
      { id: expect.any(String), startsAt: window.startsAt, endsAt: window.endsAt, regions: ['AT', 'DE'] },
    ]);
    expect((await data(creator, LIST, { status: 'PUBLISHED' })).contents).toEqual([{ id: created.id, status: 'PUBLISHED' }]);
    expect((await data(admin, ARCHIVE, { id: created.id })).archiveContent.status).toBe('ARCHIVED');
  });

  it('answers a transition the lifecycle does not have, and an edit outside DRAFT, with InvalidContentTransition', async () => {
    const tenantId = randomUUID();
    const [creator, owner] = [person(tenantId, [Role.Member]), person(tenantId, [Role.Owner])];
    const { id } = (await data(creator, CREATE, { input: METADATA })).createContent;
    expect((await data(owner, PUBLISH, { id })).publishContent).toEqual({
      __typename: 'InvalidContentTransition',
      from: 'DRAFT',
      to: 'PUBLISHED',
      allowed: ['IN_REVIEW', 'ARCHIVED'],
      message: 'A DRAFT content can only go to IN_REVIEW or ARCHIVED',
    });
    await data(creator, SUBMIT, { id });
    expect((await data(creator, UPDATE, { id, input: METADATA })).updateContentMetadata).toMatchObject({
      __typename: 'InvalidContentTransition',
      from: 'IN_REVIEW',
      to: 'DRAFT',
    });
    const rejected = (await data(owner, REJECT, { id, reason: 'Needs subtitles' })).rejectContent;
    expect(rejected).toMatchObject({ status: 'DRAFT', rejectionReason: 'Needs subtitles' });
    expect((await data(creator, SUBMIT, { id })).submitContentForReview).toMatchObject({ status: 'IN_REVIEW', rejectionReason: null });
    expect((await data(owner, ARCHIVE, { id })).archiveContent).toMatchObject({ from: 'IN_REVIEW', to: 'ARCHIVED' });
    expect((await data(owner, APPROVE, { id })).approveContent.status).toBe('APPROVED');
    await data(owner, ARCHIVE, { id });
    expect((await data(owner, APPROVE, { id })).approveContent).toMatchObject({ from: 'ARCHIVED', allowed: [] });
    expect((await data(owner, SUBMIT, { id: randomUUID() })).submitContentForReview.__typename).toBe('ContentNotFound');
  });

  it('lets creators submit their own contents only, and only ADMINs and OWNERs review, publish and grant rights', async () => {
    const tenantId = randomUUID();
    const [creator, colleague, viewer] = [
      person(tenantId, [Role.Member]),
      person(tenantId, [Role.Member]),
      person(tenantId, [Role.Viewer]),
    ];
    const { id } = (await data(creator, CREATE, { input: METADATA })).createContent;
    expect(await codes(colleague, SUBMIT, { id })).toEqual(['FORBIDDEN']);
    expect(await codes(colleague, UPDATE, { id, input: METADATA })).toEqual(['FORBIDDEN']);
    expect(await codes(viewer, CREATE, { input: METADATA })).toEqual(['FORBIDDEN']);
    await data(creator, SUBMIT, { id });
    expect(await codes(creator, APPROVE, { id })).toEqual(['FORBIDDEN']);
    expect(await codes(creator, ADD_WINDOW, { id, input: { startsAt: new Date(clock).toISOString(), regions: ['DE'] } })).toEqual([
      'FORBIDDEN',
    ]);
    expect(await codes({ kind: 'anonymous' }, CREATE, { input: METADATA })).toEqual(['UNAUTHENTICATED']);
    expect((await data(viewer, FIND, { id })).content.status).toBe('IN_REVIEW');
  });

  it('says a content is playable only when published, inside a window, in one of its regions', async () => {
    const tenantId = randomUUID();
    const admin = person(tenantId, [Role.Admin]);
    const { id } = (await data(admin, CREATE, { input: METADATA })).createContent;
    const at = (offsetMs: number) => new Date(clock + offsetMs).toISOString();
    const ask = async (region: string, offsetMs = 0) =>
      (await data(admin, PLAYABILITY, { id, region, at: at(offsetMs) })).contentPlayability;
    expect(await ask('DE')).toMatchObject({ playable: false, refusal: 'NOT_PUBLISHED' });
    await data(admin, SUBMIT, { id });
    await data(admin, APPROVE, { id });
    await data(admin, PUBLISH, { id, windows: [{ startsAt: at(DAY_MS), endsAt: at(2 * DAY_MS), regions: ['DE'] }] });
    expect(await ask('DE')).toMatchObject({ playable: false, refusal: 'OUTSIDE_RIGHTS_WINDOW' });
    expect(await ask('DE', DAY_MS)).toEqual({
      playable: true,
      refusal: null,
      title: 'The Long Take',
      durationSeconds: 5400,
      availableUntil: at(2 * DAY_MS),
    });
    expect(await ask('fr', DAY_MS)).toMatchObject({ playable: false, refusal: 'REGION_NOT_LICENSED' });
    expect(await ask('DE', 2 * DAY_MS)).toMatchObject({ refusal: 'OUTSIDE_RIGHTS_WINDOW' });
    const windows = (await data(admin, ADD_WINDOW, { id, input: { startsAt: at(0), regions: ['FR'] } })).addRightsWindow.rightsWindows;
    expect(await ask('FR', 3 * DAY_MS)).toMatchObject({ playable: true, availableUntil: null });
    const added = (windows as { id: string; regions: string[] }[]).find((window) => window.regions.includes('FR'))!;
    await data(admin, REMOVE_WINDOW, { id, windowId: added.id });
    expect(await ask('FR', 3 * DAY_MS)).toMatchObject({ refusal: 'OUTSIDE_RIGHTS_WINDOW' });
    clock += DAY_MS;
    expect((await data(admin, PLAYABILITY, { id, region: 'DE' })).contentPlayability.playable).toBe(true);
    expect((await data(person(randomUUID(), [Role.Admin]), PLAYABILITY, { id, region: 'DE' })).contentPlayability.refusal).toBe(
      'NOT_FOUND',
    );
  });

  it('answers bad input with BAD_USER_INPUT naming the field, storing nothing and logging no error', async () => {
    const admin = person(randomUUID(), [Role.Admin]);
    const field = async (query: string, variables: Record<string, unknown>) =>
      (await under.ask(admin, query, variables)).errors?.[0]?.extensions?.field;
    expect(await field(CREATE, { input: { ...METADATA, title: '  ' } })).toBe('input.title');
    expect(await field(CREATE, { input: { ...METADATA, language: 'not a language' } })).toBe('input.language');
    expect(await field(CREATE, { input: { ...METADATA, durationSeconds: 0 } })).toBe('input.durationSeconds');
    const { id } = (await data(admin, CREATE, { input: METADATA })).createContent;
    const window = { startsAt: new Date(clock).toISOString(), endsAt: new Date(clock - 1).toISOString(), regions: ['DE'] };
    expect(await field(ADD_WINDOW, { id, input: window })).toBe('input.endsAt');
    expect(await field(ADD_WINDOW, { id, input: { ...window, endsAt: null, regions: ['Germany'] } })).toBe('input.regions.0');
    expect(await field(PUBLISH, { id, windows: [{ ...window, regions: [] }] })).toBe('rightsWindows.0.regions');
    expect(await field(FIND, { id: 'not-a-uuid' })).toBe('id');
    expect(await field(PLAYABILITY, { id, region: 'Deutschland' })).toBe('region');
    expect((await data(admin, FIND, { id })).content.versions).toHaveLength(1);
    expect(under.loggedErrors).toEqual([]);
  });
});
