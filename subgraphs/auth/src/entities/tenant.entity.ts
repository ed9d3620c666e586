import { defineEntity, p } from '@mikro-orm/postgresql';

export const TenantSchema = defineEntity({
  name: 'Tenant',
  tableName: 'tenants',
  properties: {
    id: p.uuid().primary().onCreate(() => crypto.randomUUID()),
    name: p.string(),
    slug: p.string().unique(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});

export class Tenant extends TenantSchema.class {}
TenantSchema.setClass(Tenant);
