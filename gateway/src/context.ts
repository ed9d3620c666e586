import type { Identity } from '@nexusflow/kit/core';

export interface GatewayContext {
  identity: Identity;
  requestId: string;
}
