import { ApolloServer, type ApolloServerPlugin } from '@apollo/server';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import type { GatewayInterface } from '@apollo/server-gateway-interface';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { ErrorCode, formatClientError, type Logger, type Metrics } from '@nexusflow/kit/core';
import type { GatewayConfig } from '../config.ts';
import type { GatewayContext } from '../context.ts';
import { documentStore } from '../document-store.ts';
import { DeferDirectiveRule } from '../execution/defer-rules.ts';
import type { DemandControl } from '../plugins/demand-control.ts';
import { SUGGESTION } from '../subscriptions/operations.ts';

/** Memory for the parsed and validated documents Apollo Server keeps. */
/**
 * An error Apollo Server answers a request with before any execution, without a code but with HTTP 400 (an automatic
 * persisted query whose hash does not match its text, or of a version it does not know): the client's mistake, told as
 * Apollo words it, where it would otherwise be an internal error, and logged as one.
 */
function apolloRequestError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError | undefined {
  // Apollo Server writes INTERNAL_SERVER_ERROR into the formatted error of one thrown without a code.
  if (!(error instanceof GraphQLError) || error.extensions.code !== undefined) return undefined;
  const status = (error.extensions.http as { status?: unknown } | undefined)?.status;
  return status === 400 ? { ...formatted, extensions: { code: ErrorCode.BadRequest } } : undefined;
}

const PARSED_DOCUMENTS_BYTES = 32 * 1024 * 1024;

/** Apollo Server over the gateway: parsing, validation and the plugins, with errors shaped for clients. */
export function apolloServer(
  gateway: GatewayInterface,
  config: Pick<GatewayConfig, 'introspection' | 'limits'>,
  {
    logger,
    metrics,
    demandControl,
    audit,
    usage,
    observers = [],
  }: {
    logger: Logger;
    metrics: Metrics;
    demandControl: DemandControl;
    audit?: ApolloServerPlugin<GatewayContext> | undefined;
    usage?: ApolloServerPlugin<GatewayContext> | undefined;
    /** Plugins that describe each request to its trace and its access-log line. */
    observers?: ApolloServerPlugin<GatewayContext>[];
  },
): ApolloServer<GatewayContext> {
  return new ApolloServer<GatewayContext>({
    gateway,
    introspection: config.introspection,
    // Suggestions ("Did you mean …?") would reveal, field by field, the schema that introspection hides.
    hideSchemaDetailsFromClientErrors: !config.introspection,
    parseOptions: { maxTokens: config.limits.maxTokens },
    validationRules: [DeferDirectiveRule],
    documentStore: documentStore(PARSED_DOCUMENTS_BYTES),
    includeStacktraceInErrorResponses: false,
    // main() stops the gateway on SIGTERM/SIGINT, draining first; Apollo's own handler would kill it halfway.
    stopOnTerminationSignals: false,
    formatError: (formatted, error) => {
      const safe = formatClientError(apolloRequestError(formatted, error) ?? formatted, error);
      if (safe.extensions?.code === ErrorCode.InternalServerError) logger.error({ err: error }, 'operation failed');
      else if (safe.extensions?.code === ErrorCode.ServiceUnavailable && formatted.extensions?.code !== ErrorCode.ServiceUnavailable)
        logger.warn({ err: error }, 'a dependency of the gateway is unavailable');
      // Apollo Server hides suggestions in validation errors only; a variable's ("Did you mean the enum value …?") tell as much.
      return config.introspection ? safe : { ...safe, message: safe.message.replace(SUGGESTION, '') };
    },
    plugins: [
      ApolloServerPluginLandingPageDisabled(),
      metrics.apolloPlugin(),
      demandControl.apolloPlugin(),
      ...(audit ? [audit] : []),
      ...(usage ? [usage] : []),
      ...observers,
    ],
  });
}
