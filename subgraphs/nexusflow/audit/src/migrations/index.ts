import type { MigrationObject } from '@mikro-orm/core';
import { InitialAuditSchema } from './0001-initial.ts';
import { KeyedAuditHashes } from './0002-keyed-hashes.ts';
import { AuditTriggersAlways } from './0003-triggers-always.ts';

/** In order of application; never reorder or edit an applied migration, add a new one. */
export const migrations: MigrationObject[] = [
  { name: '0001-initial', class: InitialAuditSchema },
  { name: '0002-keyed-hashes', class: KeyedAuditHashes },
  { name: '0003-triggers-always', class: AuditTriggersAlways },
];
