import { Parser, type ParsedManifest } from 'm3u8-parser';
import { parse, type ParsedDashPlaylist } from 'mpd-parser';

/**
 * What players make of streamcore's manifests, read with video.js's own parsers (as its players do) rather than with
 * the library that wrote them.
 */
export function parseHlsPlaylist(text: string): ParsedManifest {
  const parser = new Parser();
  parser.push(text);
  parser.end();
  return parser.manifest;
}

/** The representations of a DASH MPD, their segment URLs resolved against where the MPD was fetched. */
export function parseDashManifest(text: string, manifestUri: string): ParsedDashPlaylist[] {
  return parse(text, { manifestUri }).playlists;
}
