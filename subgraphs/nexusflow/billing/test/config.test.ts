import { describe, expect, it } from 'vitest';
import { loadBillingConfig } from '../src/config.ts';

describe('the billing configuration', () => {
  it('leaves Stripe off without a secret key, and the webhook unverifiable without its signing secret', () => {
    const config = loadBillingConfig({});
    expect(config.stripe).toBeUndefined();
    expect(config.webhookSecret).toBeUndefined();
    expect(config.prices).toEqual({ STARTER: undefined, PRO: undefined, ENTERPRISE: undefined });
    expect(config.pastDueGraceMs).toBe(7 * 24 * 60 * 60 * 1000);
  });

  it('points the SDK at a stand-in of the API when STRIPE_API_BASE_URL is set, and takes the plans’ prices', () => {
    const config = loadBillingConfig({
      STRIPE_SECRET_KEY: 'sk_test_abc123',
      STRIPE_WEBHOOK_SECRET: 'whsec_abc',
      STRIPE_API_BASE_URL: 'http://127.0.0.1:12111',
      STRIPE_PRICE_PRO: 'price_1Pro',
      BILLING_PAST_DUE_GRACE_DAYS: '0',
    });
    expect(config.stripe).toEqual({ secretKey: 'sk_test_abc123', apiBaseUrl: new URL('http://127.0.0.1:12111') });
    expect(config.webhookSecret).toBe('whsec_abc');
    expect(config.prices.PRO).toBe('price_1Pro');
    expect(config.pastDueGraceMs).toBe(0);
  });

  it('reports metered usage only to the meters named, every 15 minutes unless told otherwise', () => {
    expect(loadBillingConfig({}).meterEventNames).toEqual({ EXECUTIONS: undefined, AI_TOKENS: undefined });
    const config = loadBillingConfig({ STRIPE_METER_EVENT_AI_TOKENS: 'nexusflow_ai_tokens', BILLING_USAGE_REPORT_INTERVAL_MINUTES: '60' });
    expect(config.meterEventNames).toEqual({ EXECUTIONS: undefined, AI_TOKENS: 'nexusflow_ai_tokens' });
    expect(config.usageReportIntervalMs).toBe(60 * 60_000);
    expect(loadBillingConfig({}).usageReportIntervalMs).toBe(15 * 60_000);
    expect(() => loadBillingConfig({ STRIPE_METER_EVENT_EXECUTIONS: 'has spaces' })).toThrow('STRIPE_METER_EVENT_EXECUTIONS');
  });

  it('refuses a publishable key, a signing secret of another kind, a price that is not a price id and a grace beyond 60 days', () => {
    expect(() => loadBillingConfig({ STRIPE_SECRET_KEY: 'pk_live_abc' })).toThrow('STRIPE_SECRET_KEY');
    expect(() => loadBillingConfig({ STRIPE_WEBHOOK_SECRET: 'secret' })).toThrow('STRIPE_WEBHOOK_SECRET');
    expect(() => loadBillingConfig({ STRIPE_PRICE_STARTER: 'prod_123' })).toThrow('STRIPE_PRICE_STARTER');
    expect(() => loadBillingConfig({ BILLING_PAST_DUE_GRACE_DAYS: '61' })).toThrow('BILLING_PAST_DUE_GRACE_DAYS');
  });
});
