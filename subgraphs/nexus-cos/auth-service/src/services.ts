import { createRateLimiter, type Stoppable, type SubgraphRuntime } from '@nexusflow/kit';
import type { AuthServiceConfig } from './config.ts';
import type { AuthServiceServices } from './context.ts';
import { SignInFlow } from './domain/sign-in-flow.ts';

export function createAuthServiceServices(runtime: SubgraphRuntime, config: AuthServiceConfig): AuthServiceServices {
  const limiter = createRateLimiter(config.subgraph.redisUrl, runtime.logger, {
    prefix: `${config.subgraph.redisNamespace}:auth-service:ratelimit:`,
    now: runtime.clock,
  });
  const flow = new SignInFlow({
    urls: config.urls,
    internalSecret: config.subgraph.internalSecret,
    timeoutMs: config.dependencyTimeoutMs,
    limiter,
    loginRateLimit: config.loginRateLimit,
    logger: runtime.logger,
  });
  return { flow, limiter };
}

/** Nothing runs in the background: this closes the rate limiter's Redis connection when the service stops. */
export async function closeRateLimiter(_runtime: SubgraphRuntime, services: AuthServiceServices): Promise<Stoppable> {
  return { close: () => services.limiter.close() };
}
