import type { MigrationObject } from '@mikro-orm/core';
import { InitialSchedulerSchema } from './0001-initial.ts';
import { ScheduleClaimLease } from './0002-claim-lease.ts';

/** In order of application; never reorder or edit an applied migration, add a new one. */
export const migrations: MigrationObject[] = [
  { name: '0001-initial', class: InitialSchedulerSchema },
  { name: '0002-claim-lease', class: ScheduleClaimLease },
];
