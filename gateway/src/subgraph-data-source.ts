import { RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import type { Fetcher } from '@apollo/utils.fetcher';
import type { GatewayGraphQLResponse } from '@apollo/server-gateway-interface';
import { clientError, ErrorCode, signIdentity } from '@nexusflow/kit';
import { GraphQLError } from 'graphql';
import type { GatewayContext } from './context.ts';

/**
 * Sends every subgraph request with the caller's verified identity, signed with the internal secret,
 * so that a subgraph can trust who is calling without re-validating tokens and refuses anyone who
 * bypasses the gateway.
 */
export class SubgraphDataSource extends RemoteGraphQLDataSource<GatewayContext> {
  constructor(
    url: string,
    private readonly subgraphName: string,
    private readonly internalSecret: string,
  ) {
    // Node's built-in fetch keeps connections alive; Apollo's default client sets up more per request.
    super({ url, fetcher: fetch as unknown as Fetcher });
  }

  /** A subgraph that cannot be reached is reported as such, with its name, not as an internal error. */
  override async process(options: GraphQLDataSourceProcessOptions<GatewayContext>): Promise<GatewayGraphQLResponse> {
    try {
      return await super.process(options);
    } catch (error) {
      if (error instanceof GraphQLError) throw error;
      throw clientError(ErrorCode.ServiceUnavailable, `The ${this.subgraphName} service is unavailable`);
    }
  }

  override willSendRequest({ request, context }: GraphQLDataSourceProcessOptions<GatewayContext>): void {
    const headers = request.http?.headers;
    if (!headers) return;
    // Health checks and schema loading run without a request context; they act as anonymous.
    const identity = 'identity' in context && context.identity ? context.identity : { kind: 'anonymous' as const };
    for (const [name, value] of Object.entries(signIdentity(identity, this.internalSecret))) headers.set(name, value);
    if ('requestId' in context && typeof context.requestId === 'string') headers.set('x-request-id', context.requestId);
  }
}
