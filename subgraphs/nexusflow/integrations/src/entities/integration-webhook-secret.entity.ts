import { tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * The secret an integration's webhook deliveries prove themselves with, where the provider does not sign with an app
 * secret of its own: Microsoft Graph's `clientState`, and the shared secret of Zapier, Make and the other providers.
 * Sealed with INTEGRATIONS_ENCRYPTION_KEYS and bound to the integration's id; verifying needs the secret itself, which
 * is why it is encrypted rather than hashed. Shown once, in the answer of the mutation that made it.
 */
export const IntegrationWebhookSecretSchema = defineEntity({
  name: 'IntegrationWebhookSecret',
  tableName: 'integration_webhook_secrets',
  filters: tenantFilter(),
  properties: {
    integrationId: p.uuid().primary(),
    tenantId: p.uuid(),
    sealedSecret: p.text(),
    /** The key `sealedSecret` is sealed with, to find what is left to re-encrypt after a rotation. */
    keyId: p.string(),
    createdAt: p.datetime(),
    /**
     * The secret before the last rotation, sealed like `sealedSecret` (and re-encrypted with it), still accepted until
     * `previousExpiresAt`, so that senders can switch to the new one without losing deliveries.
     */
    previousSealedSecret: p.text().nullable(),
    previousExpiresAt: p.datetime().nullable(),
  },
});

export class IntegrationWebhookSecret extends IntegrationWebhookSecretSchema.class {}
IntegrationWebhookSecretSchema.setClass(IntegrationWebhookSecret);
