import type { MigrationObject } from '@mikro-orm/core';
import { InitialAiSchema } from './0001-initial.ts';
import { DocumentsSchema } from './0002-documents.ts';
import { PromptsSchema } from './0003-prompts.ts';

/** In order of application; never reorder or edit an applied migration, add a new one. */
export const migrations: MigrationObject[] = [
  { name: '0001-initial', class: InitialAiSchema },
  { name: '0002-documents', class: DocumentsSchema },
  { name: '0003-prompts', class: PromptsSchema },
];
