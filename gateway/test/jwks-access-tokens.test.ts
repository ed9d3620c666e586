import { describe, expect, it } from 'vitest';
import { ConfigError } from '@nexusflow/kit/core';
import { loadGatewayConfig } from '../src/config.ts';

const PRODUCTION = { NODE_ENV: 'production', INTERNAL_SECRET: 'i'.repeat(32) };

describe('the gateway’s access-token keys', () => {
  it('keeps verifying NexusFlow tokens with JWT_SECRET, and requires it in production', () => {
    expect(loadGatewayConfig({ JWT_SECRET: 'j'.repeat(32) }, ['--graph', 'nexusflow']).jwtSecret).toBe('j'.repeat(32));
    expect(() => loadGatewayConfig(PRODUCTION, ['--graph', 'nexusflow'])).toThrow(/JWT_SECRET/);
  });

  it("verifies Nexus COS tokens from token-mgr's JWKS on this machine by default, with no JWT_SECRET even in production", () => {
    expect(loadGatewayConfig(PRODUCTION, ['--graph', 'nexus-cos']).jwtSecret).toEqual({
      jwksUrl: 'http://127.0.0.1:4005/.well-known/jwks.json',
      issuer: 'nexus-cos-token-mgr',
      audience: 'nexus-cos-api',
      algorithms: ['EdDSA', 'RS256'],
      cacheMaxAgeMs: 300_000,
      cooldownMs: 30_000,
      revocationsUrl: 'http://127.0.0.1:4005/revocations/',
      revocationCacheMs: 1000,
    });
  });

  it('takes the JWKS, and the revocation list beside it, from ACCESS_TOKEN_JWKS_URL', () => {
    const config = loadGatewayConfig({ ACCESS_TOKEN_JWKS_URL: 'http://token-mgr:3005/.well-known/jwks.json' }, ['--graph', 'nexus-cos']);
    expect(config.jwtSecret).toMatchObject({
      jwksUrl: 'http://token-mgr:3005/.well-known/jwks.json',
      revocationsUrl: 'http://token-mgr:3005/revocations/',
    });
  });

  it('refuses a JWKS for a graph whose topology names no issuer, unless the issuer and audience are given', () => {
    const env = { ACCESS_TOKEN_JWKS_URL: 'https://issuer.example.com/.well-known/jwks.json' };
    expect(() => loadGatewayConfig(env, ['--graph', 'nexusflow'])).toThrow(ConfigError);
    const config = loadGatewayConfig({ ...env, ACCESS_TOKEN_ISSUER: 'issuer', ACCESS_TOKEN_AUDIENCE: 'api' }, ['--graph', 'nexusflow']);
    expect(config.jwtSecret).toMatchObject({ issuer: 'issuer', audience: 'api' });
  });
});
