import type { Identity } from '@nexusflow/kit';

export interface GatewayContext {
  identity: Identity;
  requestId: string;
}
