import type { ApolloServerPlugin } from '@apollo/server';
import type { Logger } from '@nexusflow/kit/core';
import type { GatewayContext } from '../context.ts';
import { clientIdentityOf, operationShapeOf, type UsageReporter } from '../features/usage-reporting.ts';

/**
 * After each operation the gateway resolved (parsed, validated, its operation found): its usage, handed to the
 * reporter, which only adds it to an in-memory entry. The client is what the request's headers name, or what a
 * WebSocket's connection parameters named (the context's `client`). Nothing here can fail or slow the request: an
 * error is logged and the operation goes unrecorded.
 */
export function usagePlugin(reporter: UsageReporter, logger: Logger): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart() {
      if (!reporter.active) return;
      const started = performance.now();
      return {
        async willSendResponse({ contextValue, operation, document, schema, request, response }) {
          if (!operation || !document) return;
          try {
            const headers = request.http?.headers;
            const client = contextValue.client ?? clientIdentityOf((name) => headers?.get(name));
            const errors = response.body.kind === 'single' ? (response.body.singleResult.errors ?? []) : [];
            reporter.record({
              tenantId: contextValue.identity.kind === 'user' ? contextValue.identity.tenantId : null,
              client,
              shape: operationShapeOf(schema, document, operation),
              durationMs: performance.now() - started,
              errorCodes: errors.map(({ extensions }) =>
                typeof extensions?.code === 'string' ? extensions.code : 'INTERNAL_SERVER_ERROR',
              ),
            });
          } catch (error) {
            logger.warn({ err: error }, 'could not record the usage of an operation');
          }
        },
      };
    },
  };
}
