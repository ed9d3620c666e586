import type { MigrationObject } from '@mikro-orm/core';
import { InitialTokenMgrSchema } from './0001-initial.ts';
import { SessionTokens } from './0002-session-tokens.ts';

/** In order of application; never reorder or edit an applied migration, add a new one. */
export const migrations: MigrationObject[] = [
  { name: '0001-initial', class: InitialTokenMgrSchema },
  { name: '0002-session-tokens', class: SessionTokens },
];
