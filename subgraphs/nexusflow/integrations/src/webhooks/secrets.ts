import { randomBytes } from 'node:crypto';
import { requireRole, requireUuid, Role, systemFork, type Database, type EntityManager, type Identity } from '@nexusflow/kit';
import type { KeyRing } from '../domain/key-ring.ts';
import type { ProviderName } from '../domain/providers.ts';
import { IntegrationWebhookSecret } from '../entities/integration-webhook-secret.entity.ts';
import { Integration } from '../entities/integration.entity.ts';
import { usesIntegrationSecret, verificationOf } from './schemes.ts';

const ROTATING_ROLES = [Role.Owner, Role.Admin] as const;

export type RotateWebhookSecretResult =
  | {
      __typename: 'IntegrationWebhookSecret';
      integration: Integration;
      secret: string;
      createdAt: Date;
      previousSecretExpiresAt: Date | null;
    }
  | { __typename: 'IntegrationNotFound'; message: string; id: string }
  | { __typename: 'IntegrationWebhookSignedByProvider'; message: string; id: string };

/** Sealed values are bound to what they belong to; this keeps a webhook secret from opening as a row's credentials. */
const sealingContext = (integrationId: string) => `webhook-secret:${integrationId}`;

export interface WebhookSecretRotation {
  /** How long a rotated-out secret still verifies deliveries (INTEGRATIONS_WEBHOOK_SECRET_GRACE_HOURS); 0: not at all. */
  graceSeconds: number;
  now: () => number;
}

/** The integrations' own webhook secrets (see the entity): made and rotated by an admin, opened to verify deliveries. */
export class IntegrationWebhookSecrets {
  constructor(
    private readonly keys: KeyRing,
    private readonly rotation: WebhookSecretRotation = { graceSeconds: 0, now: Date.now },
  ) {}

  /**
   * A new secret for the integration's webhook, shown in this answer only. The one before still verifies deliveries
   * for the grace period (senders switch meanwhile); one rotated out earlier stops now.
   */
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
    const createdAt = new Date(this.rotation.now());
    const context = sealingContext(id);
    const existing = await em.findOne(IntegrationWebhookSecret, { integrationId: id });
    const graceful = existing !== null && this.rotation.graceSeconds > 0;
    const previous = {
      // Sealed again with the current key, so that one key id covers both and re-encryption moves them together.
      previousSealedSecret: graceful ? this.keys.seal(this.keys.open(existing.sealedSecret, context), context) : null,
      previousExpiresAt: graceful ? new Date(createdAt.getTime() + this.rotation.graceSeconds * 1000) : null,
    };
    const sealed = { sealedSecret: this.keys.seal(secret, context), keyId: this.keys.currentKeyId, createdAt, ...previous };
    if (existing) Object.assign(existing, sealed);
    else em.create(IntegrationWebhookSecret, { integrationId: id, tenantId: integration.tenantId, ...sealed });
    await em.flush();
    return {
      __typename: 'IntegrationWebhookSecret',
      integration,
      secret,
      createdAt,
      previousSecretExpiresAt: previous.previousExpiresAt,
    };
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
      const resealed = (sealed: string) => this.keys.seal(this.keys.open(sealed, context), context);
      const previousSealedSecret = stored.previousSealedSecret ? resealed(stored.previousSealedSecret) : null;
      count += await em.nativeUpdate(
        IntegrationWebhookSecret,
        { integrationId: stored.integrationId, sealedSecret: stored.sealedSecret },
        { sealedSecret: resealed(stored.sealedSecret), previousSealedSecret, keyId: this.keys.currentKeyId },
      );
    }
    return count;
  }

  /**
   * The integration's secret, made now if it has none: a Graph subscription made on connecting needs a clientState
   * before any admin rotated one. An admin's rotation later makes a new one (the subscription must then be made again).
   */
  async ensure(em: EntityManager, integration: Integration): Promise<string> {
    const existing = await this.secretOf(em, integration.id);
    if (existing !== undefined) return existing;
    const secret = `whsec_${randomBytes(32).toString('base64url')}`;
    em.create(IntegrationWebhookSecret, {
      integrationId: integration.id,
      tenantId: integration.tenantId,
      sealedSecret: this.keys.seal(secret, sealingContext(integration.id)),
      keyId: this.keys.currentKeyId,
      createdAt: new Date(),
    });
    await em.flush();
    return secret;
  }

  /** The secrets a delivery may carry now: the integration's secret, and the one before while its grace lasts. */
  async acceptedSecretsOf(em: EntityManager, integrationId: string): Promise<string[]> {
    const stored = await em.findOne(IntegrationWebhookSecret, { integrationId });
    if (!stored) return [];
    const context = sealingContext(integrationId);
    const previous = stored.previousSealedSecret;
    const previousValid = previous && (stored.previousExpiresAt?.getTime() ?? 0) > this.rotation.now();
    return [this.keys.open(stored.sealedSecret, context), ...(previousValid ? [this.keys.open(previous, context)] : [])];
  }

  /** The integration's secret; undefined before an admin made one. */
  async secretOf(em: EntityManager, integrationId: string): Promise<string | undefined> {
    const stored = await em.findOne(IntegrationWebhookSecret, { integrationId });
    return stored ? this.keys.open(stored.sealedSecret, sealingContext(integrationId)) : undefined;
  }
}
