import type { GatewayExecutor, GatewayInterface } from '@apollo/server-gateway-interface';
import { OperationTypeNode } from 'graphql';
import type { GatewayContext } from './context.ts';
import { incrementalDeliveryOf } from './execution/defer.ts';

/**
 * Identical queries in flight at the same moment (same document, operation, variables and identity) run
 * once and every caller gets that one result, as Hive Gateway's and Cosmo's request deduplication do: under
 * a burst of the same dashboard query, the subgraphs see it once. Mutations and subscriptions always run.
 * Results are shared read-only; Apollo Server formats each response from them without changing them.
 */
export function deduplicatingExecutor(execute: GatewayExecutor): GatewayExecutor {
  const inFlight = new Map<string, ReturnType<GatewayExecutor>>();
  return (requestContext) => {
    if (requestContext.operation?.operation !== OperationTypeNode.QUERY) return execute(requestContext);
    // A client streaming @defer gets its own deferred payloads, which one shared result could not carry.
    if (incrementalDeliveryOf(requestContext.context)) return execute(requestContext);
    const context = requestContext.context as Partial<GatewayContext>;
    const key = JSON.stringify([
      requestContext.queryHash,
      requestContext.operationName,
      requestContext.request.variables ?? {},
      context.identity,
    ]);
    let shared = inFlight.get(key);
    if (!shared) {
      shared = execute(requestContext).finally(() => inFlight.delete(key));
      inFlight.set(key, shared);
    }
    return shared;
  };
}

/** The gateway as Apollo Server sees it, with its executor wrapped. */
export function withDeduplication(gateway: GatewayInterface): GatewayInterface {
  return {
    onSchemaLoadOrUpdate: (callback) => gateway.onSchemaLoadOrUpdate(callback),
    load: async (options) => {
      const loaded = await gateway.load(options);
      return { ...loaded, executor: loaded.executor && deduplicatingExecutor(loaded.executor) };
    },
    stop: () => gateway.stop(),
  };
}
