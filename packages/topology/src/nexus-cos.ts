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
      secrets: ['TOKEN_KEY_ENCRYPTION_KEY'],
      notes: {
        TOKEN_KEY_ENCRYPTION_KEY: 'Seals the private signing keys at rest (AES-256-GCM) until key-service wraps them.',
      },
    },
    'key-service': { port: 3080, tier: 'core' },
    'user-auth': { port: 3003, tier: 'core' },
    'session-mgr': { port: 3004, tier: 'core' },
    'auth-service': { port: 3001, tier: 'core', calls: ['user-auth', 'session-mgr', 'token-mgr'] },
    'auth-service-v2': { port: 3002 },
    'content-management': { port: 3012 },
    streamcore: { port: 3011, calls: ['content-management'] },
    'billing-service': { port: 3020, tier: 'platform', calls: ['invoice-gen', 'ledger-mgr'] },
    'invoice-gen': { port: 3021, calls: ['ledger-mgr'] },
    'ledger-mgr': { port: 3022, calls: ['billing-service'] },
    scheduler: { port: 3023, tier: 'platform' },
  },
} as const satisfies GraphTopology;
