import type { MigrationObject } from '@mikro-orm/core';
import { InitialBillingSchema } from './0001-initial.ts';
import { UsageReportsSchema } from './0002-usage-reports.ts';

/** In order of application; never reorder or edit an applied migration, add a new one. */
export const migrations: MigrationObject[] = [
  { name: '0001-initial', class: InitialBillingSchema },
  { name: '0002-usage-reports', class: UsageReportsSchema },
];
