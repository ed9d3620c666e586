import { randomBytes, randomUUID } from 'node:crypto';
import EdgeAuth from 'akamai-edgeauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Role, statementCounter, systemFork, tenantFork, type Identity } from '@nexusflow/kit';
import { createTempDirectory, startSubgraphUnderTest, type SubgraphUnderTest } from '@nexusflow/kit/testing';
import { subgraph as contentManagement } from '../../content-management/src/subgraph.ts';
import { signEdgeToken, verifyEdgeToken } from '../src/cdn/edge-token.ts';
import { DirectoryOriginStore, MemoryOriginStore } from '../src/cdn/origin-store.ts';
import type { StreamcoreServices } from '../src/context.ts';
import { loadStreamcoreConfig } from '../src/config.ts';
import { PlaybackSession } from '../src/entities/playback-session.entity.ts';
import { createLoaders } from '../src/loaders.ts';
import { subgraph } from '../src/subgraph.ts';

const KEY = randomBytes(32).toString('hex');

describe('CDN tokens (EdgeAuth format)', () => {
  const claims = { acl: '/tenant/content/*', startsAt: 1_780_000_000, expiresAt: 1_780_000_300, ip: '203.0.113.7', id: 'session-1' };

  it("are byte for byte the tokens of Akamai's reference EdgeAuth implementation", () => {
    const reference = new EdgeAuth({
      key: KEY,
      startTime: claims.startsAt,
      endTime: claims.expiresAt,
      ip: claims.ip,
      sessionId: claims.id,
    }).generateACLToken(claims.acl);
    expect(signEdgeToken(claims, KEY)).toBe(reference);
    const unbound = new EdgeAuth({ key: KEY, startTime: claims.startsAt, endTime: claims.expiresAt }).generateACLToken(claims.acl);
    expect(signEdgeToken({ ...claims, ip: undefined, id: undefined }, KEY)).toBe(unbound);
  });

  it('open the paths under their ACL, from their address, inside their time range, and nothing else', () => {
    const token = signEdgeToken(claims, KEY);
    const check = (overrides: Partial<{ path: string; clientAddress: string; nowSeconds: number }>, key = KEY) => {
      const result = verifyEdgeToken(
        token,
        { path: '/tenant/content/720p/segment-1.m4s', clientAddress: '::ffff:203.0.113.7', nowSeconds: claims.startsAt, ...overrides },
        key,
      );
      return result.ok ? 'ok' : result.reason;
    };
    expect(check({})).toBe('ok');
    expect(check({ nowSeconds: claims.startsAt - 1 })).toBe('not-yet-valid');
    expect(check({ nowSeconds: claims.expiresAt })).toBe('expired');
    expect(check({ path: '/tenant/other/master.m3u8' })).toBe('wrong-path');
    expect(check({ clientAddress: '203.0.113.8' })).toBe('wrong-address');
    expect(check({}, randomBytes(32).toString('hex'))).toBe('bad-signature');
    expect(verifyEdgeToken('exp=1~acl=/*', { path: '/x', clientAddress: '', nowSeconds: 0 }, KEY)).toEqual({
      ok: false,
      reason: 'malformed',
    });
  });
});

describe('origin stores', () => {
  const removals: (() => Promise<void>)[] = [];

  afterAll(async () => {
    for (const remove of removals) await remove();
  });

  it.each([
    [
      'a directory',
      async () => {
        const directory = await createTempDirectory('streamcore-origin');
        removals.push(directory.remove);
        return new DirectoryOriginStore(directory.path);
      },
    ],
    ['memory', async () => new MemoryOriginStore()],
  ])('in %s keep objects by key and refuse keys that climb out', async (_name, make) => {
    const origin = await make();
    await origin.write('t/c/720p/init.mp4', Buffer.from([1, 2, 3]));
    expect(Buffer.from((await origin.read('t/c/720p/init.mp4'))!)).toEqual(Buffer.from([1, 2, 3]));
    expect(await origin.read('t/c/missing.m4s')).toBeUndefined();
    expect(await origin.read('../etc/passwd')).toBeUndefined();
    await expect(origin.write('t/../../escape', 'x')).rejects.toThrow(/not an origin key/);
  });
});

describe('the streamcore subgraph', () => {
  let content: SubgraphUnderTest<unknown>;
  let streamcore: SubgraphUnderTest<StreamcoreServices>;
  let originDirectory: { path: string; remove: () => Promise<void> };

  beforeAll(async () => {
    content = await startSubgraphUnderTest('streamcore-behaviour-content', (env) => contentManagement.start(env));
    originDirectory = await createTempDirectory('streamcore-behaviour-origin');
    streamcore = await startSubgraphUnderTest('streamcore-behaviour', (env) => subgraph.start(env), {
      CONTENT_MANAGEMENT_URL: content.subgraph.graphqlUrl,
      CDN_ORIGIN_DIR: originDirectory.path,
      PLAYBACK_SWEEP_INTERVAL_MS: '0',
    });
  });

  afterAll(async () => {
    await streamcore?.close();
    await content?.close();
    await originDirectory?.remove();
  });

  const REGISTER = `mutation ($id: ID!, $renditions: [RenditionInput!]!) { registerRenditions(contentId: $id, renditions: $renditions) {
    __typename ... on RenditionsRegistered { content { renditions { label width bandwidth codecs segmentCount } } } } }`;
  const START = `mutation ($input: StartPlaybackInput!) { startPlayback(input: $input) { __typename ... on ContentNotPlayable { reason } } }`;
  const rendition = {
    label: '720p',
    width: 1280,
    height: 720,
    bandwidth: 3_000_000,
    codecs: 'avc1.64001f',
    segmentDurationSeconds: 4,
    segmentCount: 3,
    storageKey: '720p',
  };
  const member = (tenantId = randomUUID(), roles = [Role.Member]): Identity => ({ kind: 'user', userId: randomUUID(), tenantId, roles });
  const draft = async (identity: Identity) =>
    (
      await content.ask<{ createContent: { id: string } }>(
        identity,
        'mutation { createContent(input: { title: "Draft", language: "en" }) { id } }',
      )
    ).data!.createContent.id;

  it("counts a request's live viewers per content in one grouped count of the caller's tenant, loading no session", async () => {
    const [tenantA, tenantB] = [randomUUID(), randomUUID()];
    const [busy, quiet, unwatched] = [randomUUID(), randomUUID(), randomUUID()];
    const now = Date.now();
    const session = (tenantId: string, contentId: string, live: { endedAt?: Date; expiresAt?: Date } = {}) => ({
      id: randomUUID(),
      createdAt: new Date(now),
      tenantId,
      userId: randomUUID(),
      contentId,
      region: 'EU',
      lastHeartbeatAt: new Date(now),
      expiresAt: live.expiresAt ?? new Date(now + 60_000),
      endedAt: live.endedAt ?? null,
      endReason: live.endedAt ? ('STOPPED' as const) : null,
    });
    const seed = systemFork(streamcore.subgraph.database);
    for (const row of [
      ...Array.from({ length: 25 }, () => session(tenantA, busy)),
      session(tenantA, quiet),
      session(tenantA, quiet, { endedAt: new Date(now) }),
      session(tenantA, unwatched, { expiresAt: new Date(now - 1) }),
      session(tenantB, busy),
    ]) {
      seed.create(PlaybackSession, row);
    }
    await seed.flush();

    const em = tenantFork(streamcore.subgraph.database, member(tenantA));
    const viewers = createLoaders(em).viewersByContentId(streamcore.subgraph.services.viewCounts);
    const statements = { count: 0 };
    const counts = await statementCounter.run(statements, () => Promise.all([busy, quiet, unwatched].map((id) => viewers.load(id))));
    expect(counts).toEqual([25, 1, 0]);
    expect(statements.count).toBe(1);
    expect(em.getUnitOfWork().getIdentityMap().values()).toEqual([]);
  });

  it('replaces a rendition registered again under its label, keeping the others', async () => {
    const packager = member();
    const id = await draft(packager);
    await streamcore.ask(packager, REGISTER, {
      id,
      renditions: [rendition, { ...rendition, label: '360p', width: 640, height: 360, bandwidth: 800_000, storageKey: '360p' }],
    });
    const replaced = await streamcore.ask<Record<string, any>>(packager, REGISTER, {
      id,
      renditions: [{ ...rendition, bandwidth: 3_500_000, segmentCount: 4 }],
    });
    expect(replaced.data?.registerRenditions.content.renditions).toEqual([
      { label: '720p', width: 1280, bandwidth: 3_500_000, codecs: 'avc1.64001f', segmentCount: 4 },
      { label: '360p', width: 640, bandwidth: 800_000, codecs: 'avc1.64001f', segmentCount: 3 },
    ]);
  });

  it('writes no manifest to the origin for a content that may not be played', async () => {
    const viewer = member();
    const id = await draft(viewer);
    await streamcore.ask(viewer, REGISTER, { id, renditions: [rendition] });
    expect(
      (await streamcore.ask<Record<string, any>>(viewer, START, { input: { contentId: id, region: 'DE' } })).data?.startPlayback,
    ).toEqual({
      __typename: 'ContentNotPlayable',
      reason: 'NOT_PUBLISHED',
    });
    const tenantId = (viewer as Extract<Identity, { kind: 'user' }>).tenantId;
    expect(await new DirectoryOriginStore(originDirectory.path).read(`${tenantId}/${id}/master.m3u8`)).toBeUndefined();
  });

  it('serves the origin to signed URLs at its built-in edge, /cdn/, and refuses the rest', async () => {
    const { signingKey } = loadStreamcoreConfig({ DATA_DIR: originDirectory.path }).cdn;
    await new DirectoryOriginStore(originDirectory.path).write('t/c/360p/init.mp4', Buffer.from('init'));
    const nowSeconds = Math.floor(Date.now() / 1000);
    const token = signEdgeToken({ acl: '/t/c/*', startsAt: nowSeconds, expiresAt: nowSeconds + 60 }, signingKey);
    const served = await fetch(`${streamcore.subgraph.url}/cdn/${encodeURIComponent(token)}/t/c/360p/init.mp4`);
    expect([served.status, await served.text()]).toEqual([200, 'init']);
    const forgedToken = `${token.slice(0, -1)}${token.endsWith('0') ? '1' : '0'}`;
    const forged = await fetch(`${streamcore.subgraph.url}/cdn/${encodeURIComponent(forgedToken)}/t/c/360p/init.mp4`);
    expect([forged.status, await forged.json()]).toEqual([403, { error: 'bad-signature' }]);
    const unsigned = await fetch(`${streamcore.subgraph.url}/cdn/anything/t/c/360p/init.mp4`);
    expect(unsigned.status).toBe(403);
  });

  it('answers bad renditions and playback input with BAD_USER_INPUT naming the field, logging no error', async () => {
    const packager = member();
    const id = await draft(packager);
    const field = async (query: string, variables: Record<string, unknown>) =>
      (await streamcore.ask(packager, query, variables)).errors?.[0]?.extensions?.field;
    expect(await field(REGISTER, { id, renditions: [] })).toBe('renditions');
    expect(await field(REGISTER, { id, renditions: [{ ...rendition, codecs: 'h264 please' }] })).toBe('renditions.0.codecs');
    expect(await field(REGISTER, { id, renditions: [{ ...rendition, storageKey: '../other-tenant' }] })).toBe('renditions.0.storageKey');
    expect(await field(REGISTER, { id, renditions: [rendition, rendition] })).toBe('renditions');
    expect(await field(REGISTER, { id: 'nope', renditions: [rendition] })).toBe('contentId');
    expect(await field(START, { input: { contentId: id, region: 'Germany' } })).toBe('input.region');
    expect(await field('mutation ($id: ID!) { heartbeatPlayback(sessionId: $id) { __typename } }', { id: 'nope' })).toBe('sessionId');
    expect(streamcore.loggedErrors).toEqual([]);
    const viewer = member(randomUUID(), [Role.Viewer]);
    expect((await streamcore.ask(viewer, REGISTER, { id, renditions: [rendition] })).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });
});
