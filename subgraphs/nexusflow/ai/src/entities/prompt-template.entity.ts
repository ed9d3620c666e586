import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';
import { AI_TASKS } from '../domain/catalogue.ts';

/**
 * One version of a tenant's prompt template. Versions are never changed: saving a name again adds the next version, so
 * that a completion's recorded name and version always say which text produced it.
 */
export const PromptTemplateSchema = defineEntity({
  name: 'PromptTemplate',
  tableName: 'prompt_templates',
  filters: tenantFilter(),
  properties: {
    ...entityBase,
    tenantId: p.uuid(),
    name: p.string(),
    /** 1 for a name's first save, then one more each save. */
    version: p.integer(),
    task: p.enum([...AI_TASKS]),
    system: p.text(),
    user: p.text(),
    /** The variables the placeholders name, as declared. */
    variables: p.json<string[]>(),
    /** The OWNER or ADMIN who saved it. */
    createdBy: p.uuid(),
  },
  uniques: [{ properties: ['tenantId', 'name', 'version'] }],
});

export class PromptTemplate extends PromptTemplateSchema.class {}
PromptTemplateSchema.setClass(PromptTemplate);
