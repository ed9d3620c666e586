import type { MigrationObject } from '@mikro-orm/core';
import { InitialContentManagementSchema } from './0001-initial.ts';

/** In order of application; never reorder or edit an applied migration, add a new one. */
export const migrations: MigrationObject[] = [{ name: '0001-initial', class: InitialContentManagementSchema }];
