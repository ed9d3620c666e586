import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { isDependencyOutage, valueRefusedByDatabase } from './outages.ts';

/**
 * The one list of `extensions.code` values a NexusFlow client can receive.
 * Apollo Server's own codes are reused where they exist so that Apollo clients recognise them.
 */
export enum ErrorCode {
  GraphQLParseFailed = 'GRAPHQL_PARSE_FAILED',
  GraphQLValidationFailed = 'GRAPHQL_VALIDATION_FAILED',
  BadRequest = 'BAD_REQUEST',
  BadUserInput = 'BAD_USER_INPUT',
  OperationResolutionFailure = 'OPERATION_RESOLUTION_FAILURE',
  PersistedQueryNotFound = 'PERSISTED_QUERY_NOT_FOUND',
  PersistedQueryNotSupported = 'PERSISTED_QUERY_NOT_SUPPORTED',
  /** The gateway serves only trusted documents, and this is not one of them. */
  PersistedQueryNotInList = 'PERSISTED_QUERY_NOT_IN_LIST',
  /** Operation limits the gateway checks before any planning: see the gateway's `MAX_*` settings. */
  MaxTokensLimit = 'MAX_TOKENS_LIMIT',
  MaxDepthLimit = 'MAX_DEPTH_LIMIT',
  MaxAliasesLimit = 'MAX_ALIASES_LIMIT',
  MaxRootFieldsLimit = 'MAX_ROOT_FIELDS_LIMIT',
  MaxDirectivesLimit = 'MAX_DIRECTIVES_LIMIT',
  MaxFieldsLimit = 'MAX_FIELDS_LIMIT',
  /** The operation's estimated cost (demand control) is above the gateway's maximum. */
  CostEstimatedTooExpensive = 'COST_ESTIMATED_TOO_EXPENSIVE',
  /** The query planner could not plan a valid operation within its limits. */
  QueryPlanningFailed = 'QUERY_PLANNING_FAILED',
  Unauthenticated = 'UNAUTHENTICATED',
  Forbidden = 'FORBIDDEN',
  NotFound = 'NOT_FOUND',
  Conflict = 'CONFLICT',
  RateLimited = 'RATE_LIMITED',
  /** The tenant's plan allows no more of something (members, integrations): upgrading it lifts the limit. */
  PlanLimitReached = 'PLAN_LIMIT_REACHED',
  PayloadTooLarge = 'PAYLOAD_TOO_LARGE',
  ServiceUnavailable = 'SERVICE_UNAVAILABLE',
  /** The operation did not finish within the gateway's operation timeout. */
  GatewayTimeout = 'GATEWAY_TIMEOUT',
  InternalServerError = 'INTERNAL_SERVER_ERROR',
}

const knownCodes = new Set<string>(Object.values(ErrorCode));

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && knownCodes.has(value);
}

/** A GraphQL error whose code and message are safe to show to clients. */
export function clientError(code: ErrorCode, message: string, extensions: Record<string, unknown> = {}): GraphQLError {
  return new GraphQLError(message, { extensions: { ...extensions, code } });
}

export const unauthenticated = (message = 'Authentication required'): GraphQLError => clientError(ErrorCode.Unauthenticated, message);

export const forbidden = (message = 'Not allowed'): GraphQLError => clientError(ErrorCode.Forbidden, message);

export const notFound = (message: string): GraphQLError => clientError(ErrorCode.NotFound, message);

export const badUserInput = (message: string, extensions: Record<string, unknown> = {}): GraphQLError =>
  clientError(ErrorCode.BadUserInput, message, extensions);

/**
 * Extensions other than these are dropped before an error leaves the process. `serviceName` is the subgraph a gateway
 * error came from (as stock @apollo/gateway names it): a name, never an address.
 */
const publicExtensionKeys = new Set(['code', 'retryAfterSeconds', 'field', 'serviceName']);

export const INTERNAL_ERROR_MESSAGE = 'Internal server error';

/** What a client reads when a database, broker or cache is unreachable: nothing about which one, or where. */
export const SERVICE_UNAVAILABLE_MESSAGE = 'Temporarily unavailable; try again shortly';

/**
 * Shapes every error that leaves a NexusFlow server: a code from {@link ErrorCode} is always present, and anything
 * unexpected is reduced to a generic message so that stack traces, SQL and hostnames never reach a client. Given the
 * error that was thrown (`cause`), an unexpected failure that is an outage of a dependency (a refused or dropped
 * database connection, Redis or RabbitMQ gone; see outages.ts) answers SERVICE_UNAVAILABLE, which clients may retry;
 * a value the database refused (a text longer than its column, a date out of range) BAD_USER_INPUT, saying which kind
 * of value; and any other INTERNAL_SERVER_ERROR, which they should not retry.
 */
export function formatClientError(formatted: GraphQLFormattedError, cause?: unknown): GraphQLFormattedError {
  const code = formatted.extensions?.code;
  if (!isErrorCode(code) || code === ErrorCode.InternalServerError) {
    const refusedValue = valueRefusedByDatabase(cause);
    if (refusedValue)
      return {
        message: refusedValue,
        ...(formatted.locations ? { locations: formatted.locations } : {}),
        ...(formatted.path ? { path: formatted.path } : {}),
        extensions: { code: ErrorCode.BadUserInput },
      };
    const outage = isDependencyOutage(cause);
    return {
      message: outage ? SERVICE_UNAVAILABLE_MESSAGE : INTERNAL_ERROR_MESSAGE,
      ...(formatted.locations ? { locations: formatted.locations } : {}),
      ...(formatted.path ? { path: formatted.path } : {}),
      extensions: {
        code: outage ? ErrorCode.ServiceUnavailable : ErrorCode.InternalServerError,
        ...(typeof formatted.extensions?.serviceName === 'string' ? { serviceName: formatted.extensions.serviceName } : {}),
      },
    };
  }
  const extensions: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(formatted.extensions ?? {})) {
    if (publicExtensionKeys.has(key)) extensions[key] = value;
  }
  return { ...formatted, extensions };
}

/** A body for failures answered before GraphQL execution starts (auth, rate limits, size limits). */
export function errorResponseBody(code: ErrorCode, message: string, extensions: Record<string, unknown> = {}): string {
  return JSON.stringify({ errors: [{ message, extensions: { ...extensions, code } }] });
}
