import HLS from 'hls-parser';
import { create } from 'xmlbuilder2';
import type { OriginStore } from '../cdn/origin-store.ts';
import type { Rendition } from '../entities/rendition.entity.ts';

const { MasterPlaylist, MediaPlaylist, Segment, Variant, MediaInitializationSection } = HLS.types;

export const MASTER_PLAYLIST = 'master.m3u8';
export const DASH_MANIFEST = 'manifest.mpd';
export const MEDIA_PLAYLIST = 'index.m3u8';
export const INIT_SEGMENT = 'init.mp4';
export const segmentName = (number: number): string => `segment-${number}.m4s`;

/** HLS version 7: fragmented MP4 segments with an EXT-X-MAP initialisation section. */
const HLS_VERSION = 7;

/** Where a content's objects are in the origin: under its tenant, so that one token's ACL covers one content only. */
export const contentFolder = (tenantId: string, contentId: string): string => `${tenantId}/${contentId}`;

/** Seconds, as playlists state durations. */
const segmentSeconds = (rendition: Rendition): number => rendition.segmentDurationMs / 1000;

const byBandwidth = (renditions: readonly Rendition[]) => [...renditions].sort((a, b) => b.bandwidth - a.bandwidth);

export function masterPlaylist(renditions: readonly Rendition[]): string {
  return HLS.stringify(
    new MasterPlaylist({
      version: HLS_VERSION,
      independentSegments: true,
      variants: byBandwidth(renditions).map(
        (rendition) =>
          new Variant({
            uri: `${rendition.storageKey}/${MEDIA_PLAYLIST}`,
            bandwidth: rendition.bandwidth,
            codecs: rendition.codecs,
            resolution: { width: rendition.width, height: rendition.height },
          }),
      ),
    }),
  );
}

export function mediaPlaylist(rendition: Rendition): string {
  const map = new MediaInitializationSection({ uri: INIT_SEGMENT });
  return HLS.stringify(
    new MediaPlaylist({
      version: HLS_VERSION,
      independentSegments: true,
      targetDuration: Math.ceil(segmentSeconds(rendition)),
      playlistType: 'VOD',
      endlist: true,
      segments: Array.from(
        { length: rendition.segmentCount },
        (_, index) => new Segment({ uri: segmentName(index + 1), duration: segmentSeconds(rendition), mediaSequenceNumber: index, map }),
      ),
    }),
  );
}

/** ISO 8601 duration in seconds, as MPD attributes take it. */
const isoSeconds = (seconds: number): string => `PT${Number(seconds.toFixed(3))}S`;

/** A static (on-demand) MPD of the live profile: one SegmentTemplate per representation over the same CMAF segments. */
export function dashManifest(renditions: readonly Rendition[]): string {
  const longest = Math.max(...renditions.map((rendition) => segmentSeconds(rendition) * rendition.segmentCount));
  const mpd = create({ version: '1.0', encoding: 'UTF-8' }).ele('urn:mpeg:dash:schema:mpd:2011', 'MPD', {
    type: 'static',
    profiles: 'urn:mpeg:dash:profile:isoff-live:2011',
    minBufferTime: isoSeconds(Math.max(...renditions.map(segmentSeconds))),
    mediaPresentationDuration: isoSeconds(longest),
  });
  const adaptationSet = mpd
    .ele('Period', { id: '1', start: 'PT0S' })
    .ele('AdaptationSet', { mimeType: 'video/mp4', segmentAlignment: 'true', startWithSAP: '1' });
  for (const rendition of byBandwidth(renditions)) {
    adaptationSet
      .ele('Representation', {
        id: rendition.label,
        bandwidth: String(rendition.bandwidth),
        width: String(rendition.width),
        height: String(rendition.height),
        codecs: rendition.codecs,
      })
      .ele('SegmentTemplate', {
        timescale: '1000',
        duration: String(rendition.segmentDurationMs),
        startNumber: '1',
        initialization: `${rendition.storageKey}/${INIT_SEGMENT}`,
        media: `${rendition.storageKey}/segment-$Number$.m4s`,
      });
  }
  return mpd.end({ prettyPrint: true });
}

/**
 * Writes a content's manifests to the origin: the HLS master playlist, a media playlist per rendition, the DASH MPD.
 * Only done for a content that is playable at that moment, so the origin never holds manifests of one never published.
 */
export async function writeManifests(origin: OriginStore, tenantId: string, contentId: string, renditions: readonly Rendition[]) {
  const folder = contentFolder(tenantId, contentId);
  await Promise.all([
    ...renditions.map((rendition) => origin.write(`${folder}/${rendition.storageKey}/${MEDIA_PLAYLIST}`, mediaPlaylist(rendition))),
    origin.write(`${folder}/${DASH_MANIFEST}`, dashManifest(renditions)),
  ]);
  // Last: a player never finds a master playlist naming a media playlist not yet written.
  await origin.write(`${folder}/${MASTER_PLAYLIST}`, masterPlaylist(renditions));
}
