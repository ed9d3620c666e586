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
    'user-auth': {
      port: 3003,
      tier: 'core',
      calls: ['session-mgr'],
      notes: { SESSION_MGR_URL: "Ends a user's sessions and access tokens when their password changes or they are deactivated." },
    },
    'session-mgr': {
      port: 3004,
      tier: 'core',
      calls: ['token-mgr'],
      notes: { TOKEN_MGR_URL: 'Has the access tokens of a session that ends (logout, revocation, reuse) revoked at once.' },
    },
    'auth-service': {
      port: 3001,
      tier: 'core',
      calls: ['user-auth', 'session-mgr', 'token-mgr'],
      notes: {
        USER_AUTH_URL: 'Checks the email and password of a sign-in.',
        SESSION_MGR_URL: 'Starts, rotates and ends the session of a sign-in.',
        TOKEN_MGR_URL: 'Signs the access token of a sign-in or refresh.',
      },
    },
    'auth-service-v2': {
      port: 3002,
      calls: ['token-mgr', 'key-service', 'user-auth'],
      secrets: ['OAUTH_KEY_ENCRYPTION_KEY'],
      optionalVariables: ['OAUTH_ISSUER'],
      notes: {
        OAUTH_ISSUER: 'Its public URL, the issuer of its tokens for third-party apps; unset: http://localhost:<PORT>.',
        TOKEN_MGR_URL: "Where token-mgr's JWKS and revocation list are, which verify the COS user of an authorization.",
        USER_AUTH_URL: 'Asks whether the user behind an authorization or refresh token is still active.',
        KEY_SERVICE_URL: "Encrypts and decrypts OAuth client secrets (envelope encryption under the client's tenant key).",
        OAUTH_KEY_ENCRYPTION_KEY: 'Seals its ID token signing keys at rest (AES-256-GCM) and signs its cookies.',
      },
      publicRoutes: {
        '/.well-known/openid-configuration': 'OpenID Connect discovery for third-party apps',
        '/oauth/': 'authorization, token, introspection, revocation, userinfo, JWKS and the authorization interaction',
      },
    },
    'content-management': { port: 3012 },
    streamcore: {
      port: 3011,
      calls: ['content-management'],
      secrets: ['CDN_SIGNING_KEY'],
      optionalVariables: ['CDN_BASE_URL', 'CDN_ORIGIN_DIR'],
      notes: {
        CONTENT_MANAGEMENT_URL: 'Asks whether a content may be played now in the viewer region, and whether it exists.',
        CDN_SIGNING_KEY: 'EdgeAuth (Akamai Auth Token 2.0) key, hex: signs playback URLs; the CDN edge checks them with the same key.',
        CDN_BASE_URL: "Where players reach the CDN edge that serves the origin; unset: streamcore's built-in edge at /cdn/.",
        CDN_ORIGIN_DIR: 'The origin folder the edge serves and streamcore writes manifests to; unset: DATA_DIR/cdn-origin.',
      },
      publicRoutes: { 'GET /cdn/': 'The built-in CDN edge: manifests and segments for signed playback URLs (EdgeAuth tokens)' },
    },
    'billing-service': {
      port: 3020,
      tier: 'platform',
      calls: ['invoice-gen', 'ledger-mgr'],
      secrets: ['STRIPE_WEBHOOK_SECRET'],
      optionalVariables: ['STRIPE_SECRET_KEY'],
      publicRoutes: { 'POST /webhooks/stripe': "Stripe's webhook deliveries, verified with STRIPE_WEBHOOK_SECRET" },
      notes: {
        STRIPE_WEBHOOK_SECRET: 'The signing secret (whsec_…) of the webhook endpoint registered in Stripe for POST /webhooks/stripe.',
        STRIPE_SECRET_KEY: 'Stripe secret key (sk_…): payments and refunds are on when it is given, off (SERVICE_UNAVAILABLE) without it.',
        INVOICE_GEN_URL: 'Reads the invoices it is asked to pay, and marks them paid once Stripe settled the payment.',
        LEDGER_MGR_URL: 'Posts each settled payment, fee and refund to the ledger, once per Stripe object.',
      },
    },
    'invoice-gen': {
      port: 3021,
      calls: ['ledger-mgr'],
      optionalVariables: ['INVOICE_PDF_BASE_URL'],
      notes: {
        LEDGER_MGR_URL: 'Posts each issued invoice (receivable, revenue, tax) and the reversal of a voided one, once per key.',
        INVOICE_PDF_BASE_URL: "The public origin of this service's signed PDF links (GET /invoices/pdf); unset: localhost.",
      },
      publicRoutes: { 'GET /invoices/pdf': 'An invoice as PDF, through a signed link that expires after 15 minutes' },
    },
    'ledger-mgr': {
      port: 3022,
      calls: ['billing-service'],
      notes: { BILLING_SERVICE_URL: "Reads billing's settled payments, refunds and fees for the reconciliation report." },
    },
    scheduler: {
      port: 3023,
      tier: 'platform',
      optionalVariables: ['TASK_TARGET_URL_TEMPLATE', 'TASK_TARGET_URLS'],
      notes: {
        TASK_TARGET_URL_TEMPLATE:
          'Where tasks are delivered: the origin of a target service from {service}, {port}, {localPort}, e.g. http://{service}:{port}.',
        TASK_TARGET_URLS: 'The origin of some target services by name (name=url,name=url), overriding the template for them.',
      },
    },
  },
} as const satisfies GraphTopology;
