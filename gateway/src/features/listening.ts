import type { Server } from 'node:http';
import { listen, type RunningHttpServer } from '@nexusflow/kit/core';
import type { GatewayConfig } from '../config.ts';

export interface Listening {
  http: RunningHttpServer;
  /** The admin listener, when the configuration asks for one. */
  admin: RunningHttpServer | undefined;
}

/**
 * Listens on the public port, then on the admin one when configured. If either cannot listen, what did is closed,
 * `stopEarly` releases what was started before, and the error is thrown: a gateway that fails to start leaves nothing open.
 */
export async function listenOnPorts(
  config: Pick<GatewayConfig, 'port' | 'host' | 'admin'>,
  servers: { public: Server; admin: () => Server },
  stopEarly: () => Promise<void>,
): Promise<Listening> {
  const fail = async (error: unknown): Promise<never> => {
    await stopEarly();
    throw error;
  };
  const http = await listen(servers.public, config.port, config.host).catch(fail);
  if (!config.admin) return { http, admin: undefined };
  const admin = await listen(servers.admin(), config.admin.port, config.admin.host).catch(async (error: unknown) => {
    await http.close(0);
    return fail(error);
  });
  return { http, admin };
}
