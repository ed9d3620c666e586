import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * A credential for machines of one tenant. Only the SHA-256 hash of its secret is stored: the secret is 256 random
 * bits, so a fast hash is as good as a slow one and lets the gateway look a key up on every request.
 */
export const ApiKeySchema = defineEntity({
  name: 'ApiKey',
  tableName: 'api_keys',
  filters: tenantFilter(),
  properties: {
    ...entityBase,
    tenantId: p.uuid().index(),
    name: p.string(),
    /** `read` and/or `write`; see `domain/api-keys.ts`. */
    scopes: p.array(),
    /** The secret's first characters, shown to tell keys apart. */
    prefix: p.string(),
    /** Lower-case hex SHA-256 of the whole secret. */
    secretHash: p.string().unique(),
    /** The user who created the key. */
    createdBy: p.uuid(),
    expiresAt: p.datetime().nullable(),
    lastUsedAt: p.datetime().nullable(),
    revokedAt: p.datetime().nullable(),
  },
});

export class ApiKey extends ApiKeySchema.class {}
ApiKeySchema.setClass(ApiKey);
