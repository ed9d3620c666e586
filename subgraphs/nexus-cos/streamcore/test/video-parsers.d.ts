/**
 * The parts of video.js's playlist parsers that the tests read: the packages ship JavaScript only. Shapes as their
 * READMEs document them.
 */
declare module 'm3u8-parser' {
  export interface ParsedSegment {
    uri: string;
    duration: number;
    map?: { uri: string };
  }
  export interface ParsedVariant {
    uri: string;
    attributes: { BANDWIDTH: number; CODECS?: string; RESOLUTION?: { width: number; height: number } };
  }
  export interface ParsedManifest {
    playlists?: ParsedVariant[];
    segments: ParsedSegment[];
    targetDuration?: number;
    endList?: boolean;
    playlistType?: string;
  }
  export class Parser {
    push(chunk: string): void;
    end(): void;
    manifest: ParsedManifest;
  }
}

declare module 'mpd-parser' {
  export interface ParsedDashPlaylist {
    attributes: { NAME: string; BANDWIDTH: number; CODECS: string; RESOLUTION: { width: number; height: number } };
    segments: { uri: string; resolvedUri: string; duration: number; map?: { resolvedUri: string } }[];
  }
  export function parse(manifest: string, options: { manifestUri: string }): { playlists: ParsedDashPlaylist[]; duration: number };
}

declare module 'akamai-edgeauth' {
  interface EdgeAuthOptions {
    key: string;
    startTime?: number;
    endTime?: number;
    windowSeconds?: number;
    ip?: string;
    sessionId?: string;
    escapeEarly?: boolean;
  }
  export default class EdgeAuth {
    constructor(options: EdgeAuthOptions);
    generateACLToken(acl: string | string[]): string;
  }
}
