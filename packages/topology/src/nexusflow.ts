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
    workflows: { port: 3002, calls: ['notifications'] },
    scheduler: { port: 3009, calls: ['workflows'] },
    notifications: { port: 3005, calls: ['auth'] },
  },
} as const satisfies GraphTopology;
