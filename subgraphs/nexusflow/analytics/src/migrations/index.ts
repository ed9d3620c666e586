import type { MigrationObject } from '@mikro-orm/core';
import { InitialAnalyticsSchema } from './0001-initial.ts';
import { ReportsAndExportJobsSchema } from './0002-reports-and-export-jobs.ts';
import { OperationUsageTables } from './0003-operation-usage.ts';

/** In order of application; never reorder or edit an applied migration, add a new one. */
export const migrations: MigrationObject[] = [
  { name: '0001-initial', class: InitialAnalyticsSchema },
  { name: '0002-reports-and-export-jobs', class: ReportsAndExportJobsSchema },
  { name: '0003-operation-usage', class: OperationUsageTables },
];
