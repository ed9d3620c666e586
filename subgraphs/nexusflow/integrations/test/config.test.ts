import { describe, expect, it } from 'vitest';
import { loadIntegrationsConfig } from '../src/config.ts';
import { endpointOn } from '../src/domain/providers.ts';

const KEY = 'k'.repeat(32);

describe('the integrations configuration', () => {
  it('turns a provider on with both its client id and secret, and points its endpoints at its base URL', () => {
    const config = loadIntegrationsConfig({
      INTEGRATIONS_HUBSPOT_CLIENT_ID: 'id',
      INTEGRATIONS_HUBSPOT_CLIENT_SECRET: 'secret',
      INTEGRATIONS_HUBSPOT_BASE_URL: 'http://127.0.0.1:9999',
      INTEGRATIONS_SLACK_CLIENT_ID: 'id without a secret',
      INTEGRATIONS_ZOHO_CRM_BASE_URL: 'https://accounts.zoho.eu',
    });
    expect(config.providers.HUBSPOT.credentials).toEqual({ clientId: 'id', clientSecret: 'secret' });
    expect(config.providers.SLACK.credentials).toBeUndefined();
    expect(endpointOn(config.providers.HUBSPOT, 'https://app.hubspot.com/oauth/authorize').href).toBe(
      'http://127.0.0.1:9999/oauth/authorize',
    );
    expect(endpointOn(config.providers.HUBSPOT, 'https://api.hubapi.com/oauth/v1/token').href).toBe('http://127.0.0.1:9999/oauth/v1/token');
    expect(endpointOn(config.providers.ZOHO_CRM, 'https://accounts.zoho.com/oauth/v2/token').href).toBe(
      'https://accounts.zoho.eu/oauth/v2/token',
    );
    expect(endpointOn(config.providers.SALESFORCE, 'https://login.salesforce.com/services/oauth2/token').href).toBe(
      'https://login.salesforce.com/services/oauth2/token',
    );
  });

  it('reads the encryption key ring newest first, and refuses weak keys and a redirect URI with a query', () => {
    expect(loadIntegrationsConfig({ INTEGRATIONS_ENCRYPTION_KEYS: `new:${KEY},old:${KEY}x` }).encryptionKeys.map(({ id }) => id)).toEqual([
      'new',
      'old',
    ]);
    expect(() => loadIntegrationsConfig({ INTEGRATIONS_ENCRYPTION_KEYS: 'new:short' })).toThrow(
      'INTEGRATIONS_ENCRYPTION_KEYS: key 1 must have a secret of at least 32 characters',
    );
    expect(() => loadIntegrationsConfig({ INTEGRATIONS_REDIRECT_URI: 'https://app.example/callback?next=1' })).toThrow(
      'must have no query and no fragment',
    );
  });

  it('keeps delivery ids a week and rotated-out webhook secrets a day by default, and refuses a retention inside the replay window', () => {
    const defaults = loadIntegrationsConfig({});
    expect(defaults.webhooks.deliveryRetentionSeconds).toBe(7 * 86_400);
    expect(defaults.webhooks.deliveryRetentionSeconds).toBeGreaterThan(defaults.webhooks.toleranceSeconds);
    expect(defaults.webhooks.secretGraceSeconds).toBe(24 * 3600);
    expect(defaults.actionReceiptRetentionSeconds).toBe(30 * 86_400);
    expect(loadIntegrationsConfig({ INTEGRATIONS_WEBHOOK_SECRET_GRACE_HOURS: '0' }).webhooks.secretGraceSeconds).toBe(0);
    expect(() => loadIntegrationsConfig({ INTEGRATIONS_WEBHOOK_DELIVERY_RETENTION_DAYS: '0' })).toThrow(
      'INTEGRATIONS_WEBHOOK_DELIVERY_RETENTION_DAYS',
    );
  });

  it('requires its own encryption keys in production', () => {
    expect(() => loadIntegrationsConfig({ NODE_ENV: 'production', INTERNAL_SECRET: KEY })).toThrow(
      'INTEGRATIONS_ENCRYPTION_KEYS: is required when NODE_ENV=production',
    );
    expect(
      loadIntegrationsConfig({ NODE_ENV: 'production', INTERNAL_SECRET: KEY, INTEGRATIONS_ENCRYPTION_KEYS: KEY }).encryptionKeys,
    ).toHaveLength(1);
  });
});
