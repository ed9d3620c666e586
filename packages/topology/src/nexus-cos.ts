import type { GraphTopology } from './types.ts';

/**
 * The Nexus COS supergraph (issue 18): the 43 services of its catalogue become its subgraphs one by one, each on its
 * catalogue port in its container. Its gateway is `backend-api`, our gateway serving this graph. `npm start` runs it
 * beside NexusFlow, whose catalogue uses the same ports, 1000 ports up (token-mgr's 3005 is 4005 on the machine).
 * Order is the order of composition and, within a tier, of start-up; `npm run new:subgraph` appends here.
 */
export const nexusCos = {
  gatewayPort: 3000,
  gatewayName: 'backend-api',
  gatewayTier: 'platform',
  localPortOffset: 1000,
  kubernetesNamespace: 'nexus-cos',
  accessTokens: { jwksFrom: 'token-mgr', issuer: 'nexus-cos-token-mgr', audience: 'nexus-cos-api' },
  clients: ['clients/nexus-cos'],
  resources: { requests: { cpu: '100m', memory: '192Mi' }, limits: { cpu: '1', memory: '384Mi' } },
  services: {
    'token-mgr': {
      port: 3005,
      tier: 'core',
      calls: ['key-service'],
      secrets: ['TOKEN_KEY_ENCRYPTION_KEY'],
      notes: {
        KEY_SERVICE_URL: 'Wraps the private signing keys (envelope encryption under the platform tenant key).',
        TOKEN_KEY_ENCRYPTION_KEY: 'Opens signing keys sealed before key-service wrapped them; they are re-wrapped at the next rotation.',
      },
    },
    'key-service': {
      port: 3080,
      tier: 'core',
      secrets: ['KEY_SERVICE_MASTER_KEY'],
      optionalVariables: ['KEY_SERVICE_PREVIOUS_MASTER_KEYS'],
      // Every key operation is audited and published on the bus (keys.audit.*) through its outbox.
      usesRabbitMq: true,
      notes: {
        KEY_SERVICE_MASTER_KEY: 'Seals every tenant key-encryption key at rest (AES-256-GCM); never leaves key-service.',
        KEY_SERVICE_PREVIOUS_MASTER_KEYS: 'Master keys being retired, comma-separated: still open tenant keys until re-sealed.',
      },
    },
    'user-auth': { port: 3003, tier: 'core' },
    'session-mgr': { port: 3004, tier: 'core' },
    'auth-service': { port: 3001, tier: 'core' },
    'auth-service-v2': {
      port: 3002,
      calls: ['token-mgr'],
      secrets: ['OAUTH_KEY_ENCRYPTION_KEY'],
      optionalVariables: ['OAUTH_ISSUER'],
      notes: {
        OAUTH_ISSUER: 'Its public URL, the issuer of its tokens for third-party apps; unset: http://localhost:<PORT>.',
        TOKEN_MGR_URL: "Where token-mgr's JWKS and revocation list are, which verify the COS user of an authorization.",
        OAUTH_KEY_ENCRYPTION_KEY: 'Seals its signing keys and OAuth client secrets at rest (AES-256-GCM), and its cookies.',
      },
      publicRoutes: {
        '/.well-known/openid-configuration': 'OpenID Connect discovery for third-party apps',
        '/oauth/': 'authorization, token, introspection, revocation, userinfo, JWKS and the authorization interaction',
      },
    },
    'content-management': { port: 3012 },
    streamcore: { port: 3011 },
    'billing-service': { port: 3020, tier: 'platform' },
    'invoice-gen': { port: 3021 },
    'ledger-mgr': { port: 3022 },
    scheduler: { port: 3023, tier: 'platform' },
  },
} as const satisfies GraphTopology;
