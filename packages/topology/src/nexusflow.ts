import type { GraphTopology } from './types.ts';

/**
 * The NexusFlow supergraph. Order is the order of composition and of start-up; `npm run new:subgraph` appends here.
 * `calls` names the services a service calls directly (not through the gateway), with typed internal operations.
 */
export const nexusflow = {
  gatewayPort: 8000,
  clients: ['clients/web', 'clients/mobile'],
  services: {
    auth: { port: 3001, secrets: ['JWT_SECRET'] },
    workflows: {
      port: 3002,
      calls: ['notifications'],
      usesRabbitMq: true,
      notes: { NOTIFICATIONS_URL: 'Where notify steps send their notifications.' },
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
  },
} as const satisfies GraphTopology;
