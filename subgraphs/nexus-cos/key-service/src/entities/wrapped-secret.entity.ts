import { createdAt, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * A secret whose data key a tenant key version wraps, by the id its ciphertext carries: what keeps a version from being
 * destroyed while something still needs it. Neither the secret nor its data key is kept here.
 */
export const WrappedSecretSchema = defineEntity({
  name: 'WrappedSecret',
  tableName: 'wrapped_secrets',
  filters: tenantFilter(),
  indexes: [{ properties: ['tenantKeyId', 'keyVersion'] }],
  properties: {
    /** The secret's id, inside its ciphertext. */
    id: p.uuid().primary(),
    ...createdAt,
    tenantId: p.uuid(),
    tenantKeyId: p.uuid(),
    keyVersion: p.integer(),
  },
});

export class WrappedSecret extends WrappedSecretSchema.class {}
WrappedSecretSchema.setClass(WrappedSecret);
