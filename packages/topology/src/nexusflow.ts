import type { GraphTopology } from './types.ts';

/**
 * The NexusFlow supergraph. Order is the order of composition and of start-up; `npm run new:subgraph` appends here.
 * `calls` names the services a service calls directly (not through the gateway), with typed internal operations.
 */
export const nexusflow = {
  gatewayPort: 8000,
  clients: ['clients/web', 'clients/mobile'],
  services: {
    auth: {
      port: 3001,
      secrets: ['JWT_SECRET', 'MFA_ENCRYPTION_KEY'],
      calls: ['notifications', 'billing'],
      // Its events (sign-ins, members, keys, sessions) go out through its outbox, for audit and analytics.
      usesRabbitMq: true,
      optionalVariables: [
        'OIDC_REDIRECT_URIS',
        'OIDC_GOOGLE_CLIENT_ID',
        'OIDC_GOOGLE_CLIENT_SECRET',
        'OIDC_MICROSOFT_CLIENT_ID',
        'OIDC_MICROSOFT_CLIENT_SECRET',
        'OIDC_MICROSOFT_TRUST_EMAIL',
        'OIDC_GITHUB_CLIENT_ID',
        'OIDC_GITHUB_CLIENT_SECRET',
        'SAML_SP_BASE_URL',
      ],
      notes: {
        NOTIFICATIONS_URL: 'Sends verification and password-reset emails, retried in the background while it is down.',
        BILLING_URL: "Asked (and cached a minute) for the tenant's seats before inviteMember; unreachable, invitations are not limited.",
        OIDC_REDIRECT_URIS:
          'Comma-separated callback URLs of the apps that sign in with Google, Microsoft or GitHub, registered with each.',
        OIDC_GOOGLE_CLIENT_ID:
          "Each provider's sign-in is on when its client id and secret are given (optional variables, empty by default).",
        OIDC_MICROSOFT_TRUST_EMAIL: "true: Microsoft's unverified email claim may find or create an account (see README, OIDC sign-in).",
        SAML_SP_BASE_URL: "Public origin of the SAML pages: a tenant's entity id is <origin>/saml/<tenant id>, its ACS URL that plus /acs.",
      },
    },
    workflows: {
      port: 3002,
      calls: ['notifications', 'ai', 'integrations', 'billing'],
      secrets: ['WEBHOOK_SECRET_ENCRYPTION_KEY'],
      usesRabbitMq: true,
      optionalVariables: ['WEBHOOK_BASE_URL'],
      publicRoutes: { 'POST /webhooks/workflows/<workflow id>': 'deliveries to the webhooks of WEBHOOK triggers, signed by their senders' },
      notes: {
        NOTIFICATIONS_URL: 'Where notify steps send their notifications.',
        WEBHOOK_SECRET_ENCRYPTION_KEY: 'Encrypts the signing secrets of workflow webhooks at rest.',
        WEBHOOK_BASE_URL:
          'Public origin of POST /webhooks/workflows/<id> on this service (the gateway does not proxy it), e.g. https://hooks.example.com.',
        AI_URL: 'Where ai steps send their completions, classifications, extractions and summaries.',
        INTEGRATIONS_URL:
          'Where integration steps post to Slack and Teams and send to Zapier and Make hooks, through the tenant’s connections.',
        BILLING_URL: "Asked (and cached a minute) for a tenant's executions this month against its plan's limit before runWorkflow.",
      },
    },
    scheduler: { port: 3009, calls: ['workflows'] },
    notifications: {
      port: 3005,
      calls: ['auth'],
      usesRabbitMq: true,
      optionalVariables: [
        'SENDGRID_API_KEY',
        'TWILIO_ACCOUNT_SID',
        'TWILIO_AUTH_TOKEN',
        'TWILIO_FROM',
        'FCM_PROJECT_ID',
        'FCM_ACCESS_TOKEN',
      ],
      notes: {
        AUTH_URL: "Asked whether the recipient of a sendNotification is a user of the sender's tenant.",
        SENDGRID_API_KEY: "Channels are on when their provider's credentials are given (optional variables, empty by default).",
      },
    },
    ai: {
      port: 3003,
      calls: ['workflows', 'auth'],
      // Its usage records go out as ai.usage.recorded events through its outbox, for billing and analytics.
      usesRabbitMq: true,
      optionalVariables: [
        'OPENAI_API_KEY',
        'OPENAI_BASE_URL',
        'ANTHROPIC_API_KEY',
        'ANTHROPIC_BASE_URL',
        'PINECONE_API_KEY',
        'PINECONE_INDEX_HOST',
      ],
      notes: {
        WORKFLOWS_URL: 'Checks the workflow definitions suggestWorkflowSteps drafts with the workflows service’s own validation.',
        AUTH_URL: "Asked for a tenant's plan when AI_PLAN_ROUTES routes plans to their own models; unreachable, the default routes answer.",
        OPENAI_API_KEY:
          'A provider is on when its key is given (optional variables, empty by default); with none, AI operations answer SERVICE_UNAVAILABLE.',
        OPENAI_BASE_URL: 'Any OpenAI-compatible server, e.g. a local model server (default https://api.openai.com/v1).',
        PINECONE_API_KEY: "Document chunks go to Pinecone when both are given; to this service's PostgreSQL (pgvector) otherwise.",
      },
    },
    integrations: {
      port: 3004,
      secrets: ['INTEGRATIONS_ENCRYPTION_KEYS'],
      calls: ['billing'],
      // integration.connected and .disconnected go out through its outbox.
      usesRabbitMq: true,
      optionalVariables: [
        'INTEGRATIONS_REDIRECT_URI',
        'INTEGRATIONS_SALESFORCE_CLIENT_ID',
        'INTEGRATIONS_SALESFORCE_CLIENT_SECRET',
        'INTEGRATIONS_HUBSPOT_CLIENT_ID',
        'INTEGRATIONS_HUBSPOT_CLIENT_SECRET',
        'INTEGRATIONS_PIPEDRIVE_CLIENT_ID',
        'INTEGRATIONS_PIPEDRIVE_CLIENT_SECRET',
        'INTEGRATIONS_ZOHO_CRM_CLIENT_ID',
        'INTEGRATIONS_ZOHO_CRM_CLIENT_SECRET',
        'INTEGRATIONS_SLACK_CLIENT_ID',
        'INTEGRATIONS_SLACK_CLIENT_SECRET',
        'INTEGRATIONS_MICROSOFT_TEAMS_CLIENT_ID',
        'INTEGRATIONS_MICROSOFT_TEAMS_CLIENT_SECRET',
        'INTEGRATIONS_GMAIL_CLIENT_ID',
        'INTEGRATIONS_GMAIL_CLIENT_SECRET',
        'INTEGRATIONS_OUTLOOK_CLIENT_ID',
        'INTEGRATIONS_OUTLOOK_CLIENT_SECRET',
        'INTEGRATIONS_WEBHOOK_BASE_URL',
        'INTEGRATIONS_SLACK_SIGNING_SECRET',
      ],
      publicRoutes: {
        'POST /webhooks/integrations/<integration id>':
          "providers' webhook deliveries to an integration, verified as each provider signs them",
      },
      notes: {
        BILLING_URL:
          "Asked (and cached a minute) for the tenant's integrations limit before a new connection; unreachable, connections are not limited.",
        INTEGRATIONS_ENCRYPTION_KEYS:
          "Providers' tokens are encrypted under these at rest: comma-separated, newest first, each <id>:<secret> or a bare secret (see README, Integrations).",
        INTEGRATIONS_REDIRECT_URI:
          "The app's page providers send admins back to after consent (default http://localhost:8000/integrations/callback), registered with each provider.",
        INTEGRATIONS_SALESFORCE_CLIENT_ID:
          'Each OAuth provider can be connected when its client id and secret are given (optional variables, empty by default); Zapier and Make need none.',
        INTEGRATIONS_WEBHOOK_BASE_URL:
          'The public origin providers reach the webhook routes at, e.g. https://hooks.example.com (HubSpot signs the full URL it calls); default http://localhost:3004.',
        INTEGRATIONS_SLACK_SIGNING_SECRET: "The Slack app's signing secret, which verifies Slack's event deliveries.",
      },
    },
    billing: {
      port: 3007,
      // Consumes workflow.execution.started and ai.usage.recorded; publishes billing.* events through its outbox.
      usesRabbitMq: true,
      optionalVariables: [
        'STRIPE_SECRET_KEY',
        'STRIPE_WEBHOOK_SECRET',
        'STRIPE_PRICE_STARTER',
        'STRIPE_PRICE_PRO',
        'STRIPE_PRICE_ENTERPRISE',
        'STRIPE_METER_EVENT_EXECUTIONS',
        'STRIPE_METER_EVENT_AI_TOKENS',
        'BILLING_PAST_DUE_GRACE_DAYS',
        'BILLING_USAGE_REPORT_INTERVAL_MINUTES',
      ],
      publicRoutes: { 'POST /webhooks/stripe': "Stripe's webhook deliveries, verified with STRIPE_WEBHOOK_SECRET" },
      notes: {
        STRIPE_SECRET_KEY: 'Paid plans, payment methods and invoices are on when it is given; without it only the free plan is offered.',
        STRIPE_WEBHOOK_SECRET: 'The signing secret (whsec_…) of the webhook endpoint registered in Stripe for POST /webhooks/stripe.',
        STRIPE_PRICE_STARTER:
          "The Stripe price id (price_…) of each paid plan's monthly price; a plan without one cannot be subscribed to.",
        BILLING_PAST_DUE_GRACE_DAYS: 'Days a tenant whose payment failed keeps its plan before the free plan’s limits apply (default 7).',
        STRIPE_METER_EVENT_EXECUTIONS:
          "The event name of the Stripe meter (of a metered price) each paid tenant's month of executions, or AI tokens, is reported to once it closes; unset, not reported.",
        BILLING_USAGE_REPORT_INTERVAL_MINUTES:
          'How often the month just closed is reported to the meters, and failed reports retried (default 15).',
      },
    },
    audit: {
      port: 3008,
      secrets: ['AUDIT_CHAIN_KEY'],
      // Consumes every event on the bus, the gateway's records of mutations and sensitive reads among them.
      usesRabbitMq: true,
      optionalVariables: ['AUDIT_EXPORT_BASE_URL'],
      publicRoutes: { 'GET /exports/audit?token=<signed link>': 'compliance report exports, authorised by the signed link itself' },
      notes: {
        AUDIT_EXPORT_BASE_URL:
          'Public origin of GET /exports/audit on this service (the gateway does not proxy it); default http://localhost:3008.',
        AUDIT_CHAIN_KEY:
          "The key of the trail's keyed hashes, kept out of the database: without it an edited entry cannot be made to hash right.",
      },
    },
    analytics: {
      port: 3006,
      calls: ['notifications'],
      // Consumes every event on the bus into its monthly-partitioned event store.
      usesRabbitMq: true,
      optionalVariables: ['ANALYTICS_EXPORT_BASE_URL', 'CLICKHOUSE_URL', 'CLICKHOUSE_DATABASE'],
      publicRoutes: {
        'GET /exports/analytics?token=<signed link>': 'event exports, authorised by the signed link itself',
        'GET /exports/analytics/files?token=<signed link>': 'files of background exports, authorised by the signed link itself',
        'GET /reports/analytics?token=<signed link>':
          'report downloads (also in scheduled report emails), authorised by the signed link itself',
      },
      notes: {
        NOTIFICATIONS_URL: 'Where scheduled reports are sent, as their creator, to their recipients.',
        CLICKHOUSE_URL: 'Events are stored in ClickHouse (HTTP interface, 23.x or later) when set; in its PostgreSQL otherwise.',
        ANALYTICS_EXPORT_BASE_URL:
          'Public origin of GET /exports/analytics on this service (the gateway does not proxy it); default http://localhost:3006.',
      },
    },
  },
} as const satisfies GraphTopology;
