import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

export type PlaybackEndReason = 'STOPPED' | 'EXPIRED' | 'NOT_PLAYABLE';

/** One viewer playing one content; live while it has not ended and its heartbeat deadline has not passed. */
export const PlaybackSessionSchema = defineEntity({
  name: 'PlaybackSession',
  tableName: 'playback_sessions',
  filters: tenantFilter(),
  indexes: [{ properties: ['tenantId', 'userId', 'endedAt'] }, { properties: ['contentId', 'endedAt'] }],
  properties: {
    ...entityBase,
    tenantId: p.uuid(),
    userId: p.uuid(),
    contentId: p.uuid(),
    region: p.string().length(2),
    lastHeartbeatAt: p.datetime(),
    /** Its heartbeat deadline: the sweep ends it then. */
    expiresAt: p.datetime().index(),
    endedAt: p.datetime().nullable(),
    endReason: p.string().$type<PlaybackEndReason>().nullable(),
  },
});

export class PlaybackSession extends PlaybackSessionSchema.class {}
PlaybackSessionSchema.setClass(PlaybackSession);
