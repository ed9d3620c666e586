import { randomBytes } from 'node:crypto';
import { requireRole, requireUuid, Role, systemFork, type Database, type EntityManager, type Identity } from '@nexusflow/kit';
import type { KeyRing } from '../domain/key-ring.ts';
import type { ProviderName } from '../domain/providers.ts';
import { IntegrationWebhookSecret } from '../entities/integration-webhook-secret.entity.ts';
import { Integration } from '../entities/integration.entity.ts';
import { usesIntegrationSecret, verificationOf } from './schemes.ts';

const ROTATING_ROLES = [Role.Owner, Role.Admin] as const;

export type RotateWebhookSecretResult =
  | { __typename: 'IntegrationWebhookSecret'; integration: Integration; secret: string; createdAt: Date }
  | { __typename: 'IntegrationNotFound'; message: string; id: string }
  | { __typename: 'IntegrationWebhookSignedByProvider'; message: string; id: string };

/** Sealed values are bound to what they belong to; this keeps a webhook secret from opening as a row's credentials. */
const sealingContext = (integrationId: string) => `webhook-secret:${integrationId}`;

/** The integrations' own webhook secrets (see the entity): made and rotated by an admin, opened to verify deliveries. */
export class IntegrationWebhookSecrets {
  constructor(private readonly keys: KeyRing) {}

  /** A new secret for the integration's webhook, shown in this answer only; the old one stops working at once. */
  async rotate(em: EntityManager, identity: Identity, id: string): Promise<RotateWebhookSecretResult> {
    requireRole(identity, ROTATING_ROLES);
    requireUuid(id, 'id');
    const integration = await em.findOne(Integration, { id, disconnectedAt: null });
    if (!integration) return { __typename: 'IntegrationNotFound', message: `No integration ${id}`, id };
    if (!usesIntegrationSecret(verificationOf(integration.provider as ProviderName))) {
      return {
        __typename: 'IntegrationWebhookSignedByProvider',
        message: "The provider signs its deliveries with its app's secret, set in the deployment's configuration",
        id,
      };
    }
    const secret = `whsec_${randomBytes(32).toString('base64url')}`;
    const createdAt = new Date();
    const existing = await em.findOne(IntegrationWebhookSecret, { integrationId: id });
    const sealed = { sealedSecret: this.keys.seal(secret, sealingContext(id)), keyId: this.keys.currentKeyId, createdAt };
    if (existing) Object.assign(existing, sealed);
    else em.create(IntegrationWebhookSecret, { integrationId: id, tenantId: integration.tenantId, ...sealed });
    await em.flush();
    return { __typename: 'IntegrationWebhookSecret', integration, secret, createdAt };
  }

  /**
   * Seals every secret an older key sealed with the newest key, so that the old key can leave INTEGRATIONS_ENCRYPTION_KEYS;
   * returns how many. Compare-and-set: a secret rotated meanwhile is current already and stays as it is.
   */
  async reencrypt(database: Database): Promise<number> {
    const em = systemFork(database);
    const stale = await em.find(IntegrationWebhookSecret, { keyId: { $ne: this.keys.currentKeyId } });
    let count = 0;
    for (const stored of stale) {
      const context = sealingContext(stored.integrationId);
      const sealedSecret = this.keys.seal(this.keys.open(stored.sealedSecret, context), context);
      count += await em.nativeUpdate(
        IntegrationWebhookSecret,
        { integrationId: stored.integrationId, sealedSecret: stored.sealedSecret },
        { sealedSecret, keyId: this.keys.currentKeyId },
      );
    }
    return count;
  }

  /** The integration's secret; undefined before an admin made one. */
  async secretOf(em: EntityManager, integrationId: string): Promise<string | undefined> {
    const stored = await em.findOne(IntegrationWebhookSecret, { integrationId });
    return stored ? this.keys.open(stored.sealedSecret, sealingContext(integrationId)) : undefined;
  }
}
