import type { MigrationObject } from '@mikro-orm/core';
import { InitialAuthSchema } from './0001-initial.ts';
import { ThrottleCounters } from './0002-throttle-counters.ts';
import { ApiKeys } from './0003-api-keys.ts';
import { Sessions } from './0004-sessions.ts';

/** In order of application; never reorder or edit an applied migration, add a new one. */
export const migrations: MigrationObject[] = [
  { name: '0001-initial', class: InitialAuthSchema },
  { name: '0002-throttle-counters', class: ThrottleCounters },
  { name: '0003-api-keys', class: ApiKeys },
  { name: '0004-sessions', class: Sessions },
];
