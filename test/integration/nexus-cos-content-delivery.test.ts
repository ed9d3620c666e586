import { randomBytes, randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { createClient, type Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { callSubgraph, Role, type Identity, type RunningSubgraph } from '@nexusflow/kit';
import { createTempDirectory, postGraphQL, storageModes } from '@nexusflow/kit/testing';
import { JWKS_PATH } from '@nexusflow/topology';
import type { RunningGateway } from '../../gateway/src/gateway.ts';
import { startCdnEdge, type RunningCdnEdge } from '../../subgraphs/nexus-cos/streamcore/src/cdn/edge.ts';
import { DirectoryOriginStore } from '../../subgraphs/nexus-cos/streamcore/src/cdn/origin-store.ts';
import { parseDashManifest, parseHlsPlaylist } from '../../subgraphs/nexus-cos/streamcore/test/players.ts';
import type { StreamcoreServices } from '../../subgraphs/nexus-cos/streamcore/src/context.ts';
import { definitionOf, routesFor, TestServices } from '../support/services.ts';

const CREATE = `mutation ($input: ContentMetadataInput!) { createContent(input: $input) { id status } }`;
const CHANGE = `{ __typename ... on Content { id status publishedVersion { number } } ... on InvalidContentTransition { from to } }`;
const SUBMIT = `mutation ($id: ID!) { submitContentForReview(id: $id) ${CHANGE} }`;
const APPROVE = `mutation ($id: ID!) { approveContent(id: $id) ${CHANGE} }`;
const PUBLISH = `mutation ($id: ID!, $windows: [RightsWindowInput!]) { publishContent(id: $id, rightsWindows: $windows) ${CHANGE} }`;
const ARCHIVE = `mutation ($id: ID!) { archiveContent(id: $id) ${CHANGE} }`;
const REGISTER = `mutation ($id: ID!, $renditions: [RenditionInput!]!) { registerRenditions(contentId: $id, renditions: $renditions) {
  __typename ... on RenditionsRegistered { content { id renditions { label bandwidth } } } } }`;
const SESSION = `id region startedAt expiresAt endedAt urls { hls dash expiresAt boundToClientAddress }
  content { id currentVersion { title } renditions { label } viewCount }`;
const START = `mutation ($input: StartPlaybackInput!) { startPlayback(input: $input) {
  __typename ... on PlaybackSession { ${SESSION} } ... on ContentNotPlayable { reason }
  ... on ConcurrentStreamLimitReached { limit activeSessionIds } } }`;
const HEARTBEAT = `mutation ($id: ID!) { heartbeatPlayback(sessionId: $id) {
  __typename ... on PlaybackSession { id expiresAt urls { hls } } ... on ContentNotPlayable { reason } ... on PlaybackSessionEnded { sessionId } } }`;
const STOP = `mutation ($id: ID!) { stopPlayback(sessionId: $id) {
  __typename ... on PlaybackSession { id endedAt } ... on PlaybackSessionEnded { sessionId } } }`;
const SESSIONS = `query ($includeEnded: Boolean) { playbackSessions(first: 100, includeEnded: $includeEnded) { id endedAt } }`;
const VIEW_COUNT = `subscription ($contentId: ID!) { contentViewCount(contentId: $contentId) { contentId viewers } }`;

const HOUR_MS = 3_600_000;
const SEGMENT_SECONDS = 4;
const SEGMENTS = 3;
/** Shorter than a session lives without a heartbeat: a URL can expire while its session is live. */
const URL_TTL_SECONDS = 30;
const SESSION_TTL_SECONDS = 60;
const RENDITIONS = [
  { label: '360p', width: 640, height: 360, bandwidth: 800_000, codecs: 'avc1.42c01e,mp4a.40.2', storageKey: '360p' },
  { label: '720p', width: 1280, height: 720, bandwidth: 3_000_000, codecs: 'avc1.64001f,mp4a.40.2', storageKey: 'video/720p' },
].map((rendition) => ({ ...rendition, segmentDurationSeconds: SEGMENT_SECONDS, segmentCount: SEGMENTS }));

type User = Extract<Identity, { kind: 'user' }>;

/** What startPlayback answers, loosely: the fields of whichever member of its union came back. */
interface StartPlaybackAnswer {
  __typename: string;
  id: string;
  urls: { hls: string; dash: string };
  activeSessionIds: string[];
}

/** A GET as a player sends it; `localAddress` plays a viewer elsewhere (another loopback address). */
function fetchFrom(url: string, localAddress = '127.0.0.1'): Promise<{ status: number; type: string | undefined; body: Buffer }> {
  return new Promise((resolve, reject) => {
    request(url, { localAddress }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body: Buffer.concat(chunks) }));
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

describe.each(storageModes(['postgres', 'redis', 'amqp']))(
  'Nexus COS content delivery, from the client query through backend-api to a segment from the CDN edge, on $storage',
  ({ mode }) => {
    let services: TestServices;
    let tokenMgr: RunningSubgraph<unknown>;
    let streamcore: RunningSubgraph<StreamcoreServices>;
    let gateway: RunningGateway;
    let edge: RunningCdnEdge;
    let origin: DirectoryOriginStore;
    let clock = Date.now();
    const clients: Client[] = [];
    const tenantId = randomUUID();
    const creator: User = { kind: 'user', userId: randomUUID(), tenantId, roles: [Role.Member] };
    const admin: User = { kind: 'user', userId: randomUUID(), tenantId, roles: [Role.Admin] };
    const tokens = new Map<string, string>();
    /** The published content every case plays, with its segments in the origin. */
    let contentId: string;
    const segments = new Map<string, Buffer>();

    beforeAll(async () => {
      services = await TestServices.create(mode, `content_delivery_${mode}`);
      const originDirectory = await createTempDirectory(`content-delivery-origin-${mode}`);
      services.onClose(originDirectory.remove);
      origin = new DirectoryOriginStore(originDirectory.path);
      const signingKey = randomBytes(32).toString('hex');
      edge = await startCdnEdge({ origin, signingKey, now: () => clock });
      services.onClose(() => edge.close());
      // Every part judges time by one clock the test moves, signatures of identities between services included.
      const timing = { clock: () => clock, now: () => clock };
      const start = async (name: string, env: Record<string, string>) =>
        services.start(await definitionOf('nexus-cos', name), { ...(await services.environmentFor(name)), ...env }, timing);
      // token-mgr keeps its signing keys wrapped by key-service.
      const keyService = await start('key-service', {});
      tokenMgr = await start('token-mgr', { ROTATE_KEYS: 'off', KEY_SERVICE_URL: keyService.graphqlUrl });
      const contentManagement = await start('content-management', {});
      streamcore = (await start('streamcore', {
        CONTENT_MANAGEMENT_URL: contentManagement.graphqlUrl,
        CDN_BASE_URL: edge.url,
        CDN_ORIGIN_DIR: originDirectory.path,
        CDN_SIGNING_KEY: signingKey,
        CDN_URL_TTL_SECONDS: String(URL_TTL_SECONDS),
        MAX_CONCURRENT_STREAMS: '2',
        PLAYBACK_SESSION_TTL_SECONDS: String(SESSION_TTL_SECONDS),
        PLAYBACK_SWEEP_INTERVAL_MS: '0',
      })) as RunningSubgraph<StreamcoreServices>;
      gateway = await services.startGateway(
        'nexus-cos',
        routesFor('nexus-cos', { 'key-service': keyService, 'token-mgr': tokenMgr, 'content-management': contentManagement, streamcore }),
        { ACCESS_TOKEN_JWKS_URL: `${tokenMgr.url}${JWKS_PATH}` },
        { now: () => clock },
      );

      contentId = await publishedContent([{ startsAt: iso(-HOUR_MS), endsAt: iso(24 * HOUR_MS), regions: ['DE', 'AT'] }]);
      expect((await data(creator, REGISTER, { id: contentId, renditions: RENDITIONS })).registerRenditions).toEqual({
        __typename: 'RenditionsRegistered',
        content: {
          id: contentId,
          renditions: [
            { label: '720p', bandwidth: 3_000_000 },
            { label: '360p', bandwidth: 800_000 },
          ],
        },
      });
      // What the packager uploaded: an initialisation segment and media segments per rendition.
      for (const { storageKey } of RENDITIONS) {
        for (const name of ['init.mp4', ...Array.from({ length: SEGMENTS }, (_, index) => `segment-${index + 1}.m4s`)]) {
          const key = `${tenantId}/${contentId}/${storageKey}/${name}`;
          segments.set(key, randomBytes(188 * 4));
          await origin.write(key, segments.get(key)!);
        }
      }
    });

    afterAll(async () => {
      for (const client of clients) await client.dispose();
      await services?.close();
    });

    const iso = (offsetMs: number) => new Date(clock + offsetMs).toISOString();
    /** An access token of token-mgr, as auth-service gets one at sign-in. */
    const tokenOf = async (user: User) => {
      if (!tokens.has(user.userId)) {
        const issued = await callSubgraph<{ issueAccessToken: { token: string } }, unknown>({
          url: tokenMgr.graphqlUrl,
          query: 'mutation ($input: IssueAccessTokenInput!) { issueAccessToken(input: $input) { token } }',
          variables: { input: { userId: user.userId, tenantId: user.tenantId, roles: user.roles } },
          identity: { kind: 'anonymous' },
          internalSecret: tokenMgr.config.internalSecret,
          now: () => clock,
        });
        tokens.set(user.userId, issued.issueAccessToken.token);
      }
      return tokens.get(user.userId)!;
    };
    const send = async (user: User, query: string, variables: Record<string, unknown> = {}) =>
      postGraphQL<Record<string, any>>(gateway.graphqlUrl, query, { token: await tokenOf(user), variables });
    const data = async (user: User, query: string, variables: Record<string, unknown> = {}) => {
      const response = await send(user, query, variables);
      expect(response.errors, query).toBeUndefined();
      return response.data!;
    };
    const viewer = (): User => ({ kind: 'user', userId: randomUUID(), tenantId, roles: [Role.Member] });
    const startPlayback = async (user: User, id = contentId, region = 'DE'): Promise<StartPlaybackAnswer> =>
      (await data(user, START, { input: { contentId: id, region } })).startPlayback;

    /** Drafted by the creator, submitted, approved and published by the admin with `windows`. */
    async function publishedContent(windows: { startsAt: string; endsAt: string | null; regions: string[] }[]): Promise<string> {
      const { id } = (
        await data(creator, CREATE, {
          input: { title: `Feature ${randomUUID()}`, language: 'en', durationSeconds: SEGMENT_SECONDS * SEGMENTS },
        })
      ).createContent;
      expect((await data(creator, SUBMIT, { id })).submitContentForReview.status).toBe('IN_REVIEW');
      expect((await data(admin, APPROVE, { id })).approveContent.status).toBe('APPROVED');
      expect((await data(admin, PUBLISH, { id, windows })).publishContent).toMatchObject({
        status: 'PUBLISHED',
        publishedVersion: { number: 1 },
      });
      return id;
    }

    it('plays a published content: the manifest URL from the graph, both playlists and a segment from the edge', async () => {
      const watcher = viewer();
      const session = await startPlayback(watcher);
      expect(session).toMatchObject({
        __typename: 'PlaybackSession',
        region: 'DE',
        endedAt: null,
        urls: { expiresAt: new Date(Math.floor(clock / 1000) * 1000 + URL_TTL_SECONDS * 1000).toISOString(), boundToClientAddress: true },
        content: {
          id: contentId,
          currentVersion: { title: expect.stringMatching(/^Feature /) },
          renditions: [{ label: '720p' }, { label: '360p' }],
        },
      });

      const master = await fetchFrom(session.urls.hls);
      expect(master).toMatchObject({ status: 200, type: 'application/vnd.apple.mpegurl' });
      const variants = parseHlsPlaylist(master.body.toString('utf8')).playlists!;
      expect(variants.map(({ uri, attributes }) => [uri, attributes.BANDWIDTH, attributes.RESOLUTION, attributes.CODECS])).toEqual([
        ['video/720p/index.m3u8', 3_000_000, { width: 1280, height: 720 }, 'avc1.64001f,mp4a.40.2'],
        ['360p/index.m3u8', 800_000, { width: 640, height: 360 }, 'avc1.42c01e,mp4a.40.2'],
      ]);

      const mediaUrl = new URL(variants[0]!.uri, session.urls.hls).toString();
      const media = parseHlsPlaylist((await fetchFrom(mediaUrl)).body.toString('utf8'));
      expect(media).toMatchObject({ targetDuration: SEGMENT_SECONDS, endList: true, playlistType: 'VOD' });
      expect(media.segments.map(({ uri, duration, map }) => [uri, duration, map?.uri])).toEqual([
        ['segment-1.m4s', SEGMENT_SECONDS, 'init.mp4'],
        ['segment-2.m4s', SEGMENT_SECONDS, 'init.mp4'],
        ['segment-3.m4s', SEGMENT_SECONDS, 'init.mp4'],
      ]);
      const segment = await fetchFrom(new URL(media.segments[1]!.uri, mediaUrl).toString());
      expect(segment).toMatchObject({ status: 200, type: 'video/iso.segment' });
      expect(segment.body.equals(segments.get(`${tenantId}/${contentId}/video/720p/segment-2.m4s`)!)).toBe(true);

      const dash = await fetchFrom(session.urls.dash);
      expect(dash).toMatchObject({ status: 200, type: 'application/dash+xml' });
      const representations = parseDashManifest(dash.body.toString('utf8'), session.urls.dash);
      expect(representations.map(({ attributes }) => [attributes.NAME, attributes.BANDWIDTH, attributes.CODECS])).toEqual([
        ['720p', 3_000_000, 'avc1.64001f,mp4a.40.2'],
        ['360p', 800_000, 'avc1.42c01e,mp4a.40.2'],
      ]);
      const lowest = representations[1]!;
      expect(lowest.segments).toHaveLength(SEGMENTS);
      const init = await fetchFrom(lowest.segments[0]!.map!.resolvedUri);
      expect(init.body.equals(segments.get(`${tenantId}/${contentId}/360p/init.mp4`)!)).toBe(true);
      const last = await fetchFrom(lowest.segments[2]!.resolvedUri);
      expect(last.body.equals(segments.get(`${tenantId}/${contentId}/360p/segment-3.m4s`)!)).toBe(true);
      await data(watcher, STOP, { id: session.id });
    });

    it('refuses at the edge an expired URL, a tampered signature, another address and another content', async () => {
      const watcher = viewer();
      const session = await startPlayback(watcher);
      const url = new URL(session.urls.hls);
      const [, token] = url.pathname.split('/');
      const refusal = async (target: string, from?: string) => {
        const response = await fetchFrom(target, from);
        return [response.status, JSON.parse(response.body.toString('utf8')).error];
      };
      const tamperedToken = encodeURIComponent(
        decodeURIComponent(token!).replace(/hmac=(.)/, (_, first: string) => `hmac=${first === '0' ? '1' : '0'}`),
      );
      expect(await refusal(session.urls.hls.replace(token!, tamperedToken))).toEqual([403, 'bad-signature']);
      const longer = decodeURIComponent(token!).replace(/exp=(\d+)/, (_, exp: string) => `exp=${Number(exp) + 3600}`);
      expect(await refusal(session.urls.hls.replace(token!, encodeURIComponent(longer)))).toEqual([403, 'bad-signature']);
      expect(await refusal(session.urls.hls, '127.0.0.2')).toEqual([403, 'wrong-address']);
      const otherContent = await publishedContent([{ startsAt: iso(-HOUR_MS), endsAt: null, regions: ['DE'] }]);
      expect(await refusal(`${edge.url}/${token}/${tenantId}/${otherContent}/master.m3u8`)).toEqual([403, 'wrong-path']);
      expect((await fetchFrom(session.urls.hls)).status).toBe(200);

      clock += URL_TTL_SECONDS * 1000;
      expect(await refusal(session.urls.hls)).toEqual([403, 'expired']);
      // A heartbeat hands out fresh URLs, which work.
      const renewed = (await data(watcher, HEARTBEAT, { id: session.id })).heartbeatPlayback;
      expect(renewed.__typename).toBe('PlaybackSession');
      expect((await fetchFrom(renewed.urls.hls)).status).toBe(200);
      await data(watcher, STOP, { id: session.id });
    });

    it('refuses to play a content that is unpublished, out of its rights window, in another region, or without renditions', async () => {
      const watcher = viewer();
      const { id: draft } = (await data(creator, CREATE, { input: { title: 'Unfinished', language: 'en' } })).createContent;
      expect(await startPlayback(watcher, draft)).toEqual({ __typename: 'ContentNotPlayable', reason: 'NOT_PUBLISHED' });
      expect(await startPlayback(watcher, contentId, 'FR')).toEqual({ __typename: 'ContentNotPlayable', reason: 'REGION_NOT_LICENSED' });
      const upcoming = await publishedContent([{ startsAt: iso(HOUR_MS), endsAt: iso(2 * HOUR_MS), regions: ['DE'] }]);
      await data(creator, REGISTER, { id: upcoming, renditions: RENDITIONS });
      expect(await startPlayback(watcher, upcoming)).toEqual({ __typename: 'ContentNotPlayable', reason: 'OUTSIDE_RIGHTS_WINDOW' });
      const bare = await publishedContent([{ startsAt: iso(-HOUR_MS), endsAt: null, regions: ['DE'] }]);
      expect(await startPlayback(watcher, bare)).toEqual({ __typename: 'ContentNotPlayable', reason: 'NO_RENDITIONS' });
      expect(await startPlayback(watcher, randomUUID())).toEqual({ __typename: 'ContentNotPlayable', reason: 'NOT_FOUND' });
      const stranger: User = { kind: 'user', userId: randomUUID(), tenantId: randomUUID(), roles: [Role.Owner] };
      expect(await startPlayback(stranger)).toEqual({ __typename: 'ContentNotPlayable', reason: 'NOT_FOUND' });

      // Archived while playing: the next heartbeat ends the session, and gives no fresh URL.
      const playing = await publishedContent([{ startsAt: iso(-HOUR_MS), endsAt: null, regions: ['DE'] }]);
      await data(creator, REGISTER, { id: playing, renditions: RENDITIONS });
      const session = await startPlayback(watcher, playing);
      expect(session.__typename).toBe('PlaybackSession');
      expect((await data(admin, ARCHIVE, { id: playing })).archiveContent.status).toBe('ARCHIVED');
      expect((await data(watcher, HEARTBEAT, { id: session.id })).heartbeatPlayback).toEqual({
        __typename: 'ContentNotPlayable',
        reason: 'NOT_PUBLISHED',
      });
      expect((await data(watcher, SESSIONS, { includeEnded: false })).playbackSessions).toEqual([]);
    });

    it('holds each viewer to two live streams, freeing a place when one stops or misses its heartbeats', async () => {
      const watcher = viewer();
      const first = await startPlayback(watcher);
      const second = await startPlayback(watcher);
      const refused = await startPlayback(watcher);
      expect(refused).toMatchObject({ __typename: 'ConcurrentStreamLimitReached', limit: 2 });
      expect(refused.activeSessionIds.sort()).toEqual([first.id, second.id].sort());
      expect((await startPlayback(viewer())).__typename).toBe('PlaybackSession');
      expect((await data(watcher, STOP, { id: first.id })).stopPlayback).toEqual({
        __typename: 'PlaybackSession',
        id: first.id,
        endedAt: new Date(clock).toISOString(),
      });
      const third = await startPlayback(watcher);
      expect(third.__typename).toBe('PlaybackSession');
      const live = ((await data(watcher, SESSIONS)).playbackSessions as { id: string }[]).map(({ id }) => id);
      expect(live.sort()).toEqual([second.id, third.id].sort());

      clock += SESSION_TTL_SECONDS * 1000;
      expect(await streamcore.services.playback.expireOverdue(streamcore.database)).toBeGreaterThanOrEqual(2);
      expect((await data(watcher, HEARTBEAT, { id: second.id })).heartbeatPlayback).toEqual({
        __typename: 'PlaybackSessionEnded',
        sessionId: second.id,
      });
      expect((await data(watcher, SESSIONS)).playbackSessions).toEqual([]);
      const ended = (await data(watcher, SESSIONS, { includeEnded: true })).playbackSessions as { id: string }[];
      expect(ended.map(({ id }) => id).sort()).toEqual([first.id, second.id, third.id].sort());
      expect((await startPlayback(watcher)).__typename).toBe('PlaybackSession');
    });

    it('streams the live view count as sessions start and stop', async () => {
      const watched = await publishedContent([{ startsAt: iso(-HOUR_MS), endsAt: null, regions: ['DE'] }]);
      await data(creator, REGISTER, { id: watched, renditions: RENDITIONS });
      const client = createClient({
        url: gateway.graphqlUrl.replace('http://', 'ws://'),
        webSocketImpl: WebSocket,
        connectionParams: { authorization: `Bearer ${await tokenOf(admin)}` },
        retryAttempts: 0,
      });
      clients.push(client);
      const counts = client.iterate<{ contentViewCount: { contentId: string; viewers: number } }>({
        query: VIEW_COUNT,
        variables: { contentId: watched },
      });
      const next = async () => {
        const { value } = await counts.next();
        expect(value?.errors).toBeUndefined();
        return value?.data?.contentViewCount.viewers;
      };
      expect(await next()).toBe(0);
      const [one, two] = [viewer(), viewer()];
      const first = await startPlayback(one, watched);
      expect(await next()).toBe(1);
      const second = await startPlayback(two, watched);
      expect(await next()).toBe(2);
      await data(one, STOP, { id: first.id });
      expect(await next()).toBe(1);
      clock += SESSION_TTL_SECONDS * 1000;
      await streamcore.services.playback.expireOverdue(streamcore.database);
      expect(await next()).toBe(0);
      expect((await data(two, HEARTBEAT, { id: second.id })).heartbeatPlayback.__typename).toBe('PlaybackSessionEnded');
      await counts.return?.();
    });
  },
);
