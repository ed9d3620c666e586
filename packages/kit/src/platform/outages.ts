/**
 * Telling an outage of a dependency (PostgreSQL, Redis, RabbitMQ, another service) from a bug: the first is worth
 * retrying once the dependency is back, the second is not. Drivers report outages in many shapes (a socket error
 * code, an SQLSTATE, a message without a code), so each is recognised here, in the one place that says which
 * failures a client may retry.
 */

/**
 * Thrown by our own code when a dependency does not answer, e.g. a publish that waited too long for the broker,
 * so that it reaches clients as SERVICE_UNAVAILABLE without depending on a driver's wording.
 */
export class DependencyUnavailableError extends Error {
  override readonly name = 'DependencyUnavailableError';
}

/** Socket errors of a connection that could not be made, or was lost: DNS, refusal, reset, timeout, unreachable network. */
const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
]);

/**
 * PostgreSQL SQLSTATEs of a server that is going away or not taking connections: 57P01 admin_shutdown, 57P02
 * crash_shutdown, 57P03 cannot_connect_now (starting up, shutting down, in recovery), 53300 too_many_connections;
 * and of one that gave up waiting (see DatabaseOptions): 55P03 lock_not_available (past the lock timeout, a lock held
 * long by another session), 25P03 idle_in_transaction_session_timeout. Not 57014 (query_canceled, past the statement
 * timeout): a statement that runs away is a bug to report, and retrying it only runs it away again.
 * Class 08 (connection exceptions) is matched as a class.
 */
const POSTGRES_OUTAGE_STATES = new Set(['57P01', '57P02', '57P03', '53300', '55P03', '25P03']);

/**
 * What `pg` and `pg-pool` say, without a code, about a connection lost or never made (including a pool that waited
 * past its connection timeout, and one closed while the process stops); what ioredis says about a connection that
 * is down; and what amqplib says about a channel or connection that closed under a caller.
 */
const OUTAGE_MESSAGES = [
  /^Connection terminated/,
  /^timeout exceeded when trying to connect$/,
  /^Client has encountered a connection error and is not queryable$/,
  /^Client was closed and is not queryable$/,
  /^Cannot use a pool after calling end on the pool$/,
  /^Connection is closed\.$/,
  /^Stream isn't writeable and enableOfflineQueue options is false$/,
  /^Command timed out$/,
  /^channel closed$/i,
  /^Channel ended, no reply will be forthcoming$/,
  /^Connection closed \(/,
  /^Socket closed abruptly during opening handshake$/,
  /^Heartbeat timeout$/,
];

/** Error classes that only ever mean a lost connection: ioredis giving up on a command, amqplib refusing one on a closed channel. */
const OUTAGE_ERROR_NAMES = new Set(['DependencyUnavailableError', 'MaxRetriesPerRequestError', 'IllegalOperationError']);

interface ErrorLike {
  name?: unknown;
  message?: unknown;
  code?: unknown;
  routine?: unknown;
  cause?: unknown;
  originalError?: unknown;
  errors?: unknown;
}

function isOutageItself(error: ErrorLike): boolean {
  if (typeof error.name === 'string' && OUTAGE_ERROR_NAMES.has(error.name)) return true;
  if (typeof error.code === 'string') {
    if (CONNECTION_ERROR_CODES.has(error.code) || POSTGRES_OUTAGE_STATES.has(error.code) || /^08[0-9A-Z]{3}$/.test(error.code)) return true;
    // 55000 is a broad SQLSTATE; raised by CheckMyDatabase it means the database refuses connections (ALLOW_CONNECTIONS false).
    if (error.code === '55000' && error.routine === 'CheckMyDatabase') return true;
  }
  return typeof error.message === 'string' && OUTAGE_MESSAGES.some((pattern) => pattern.test(error.message as string));
}

/** How deep wrappers are followed: GraphQL's error, an ORM's exception, a `cause`, an AggregateError's members. */
const MAX_DEPTH = 8;

/** The first error in `error`'s chain (itself, `originalError`, `cause`, an AggregateError's members) that `test` accepts. */
function findInChain<T>(error: unknown, test: (candidate: ErrorLike) => T | undefined): T | undefined {
  const seen = new Set<unknown>();
  const visit = (candidate: unknown, depth: number): T | undefined => {
    if (typeof candidate !== 'object' || candidate === null || seen.has(candidate) || depth > MAX_DEPTH) return undefined;
    seen.add(candidate);
    const errorLike = candidate as ErrorLike;
    const found = test(errorLike);
    if (found !== undefined) return found;
    const wrapped = [errorLike.originalError, errorLike.cause, ...(Array.isArray(errorLike.errors) ? (errorLike.errors as unknown[]) : [])];
    for (const inner of wrapped) {
      const deeper = visit(inner, depth + 1);
      if (deeper !== undefined) return deeper;
    }
    return undefined;
  };
  return visit(error, 0);
}

/**
 * What the caller is told of a value PostgreSQL refused, by SQLSTATE: the data exceptions a caller's value causes. Any
 * other of class 22 (a division by zero, an array subscript) is more likely the service's own mistake, and stays one.
 */
const DATA_EXCEPTION_MESSAGES: Record<string, string> = {
  '22001': 'A text value is longer than allowed',
  '22003': 'A number is out of the range allowed',
  '22007': 'A date or time is not valid',
  '22008': 'A date or time is out of the range allowed',
  '22021': 'A text value holds a character that cannot be stored',
  '22P05': 'A text value holds a character that cannot be stored',
};

/**
 * The message for the caller when `error` is PostgreSQL refusing a value it was given (a data exception of
 * {@link DATA_EXCEPTION_MESSAGES}: a text longer than its column, a number or date out of range): the request's values,
 * not the service, are at fault, so it is the caller's mistake to correct rather than an internal error to retry.
 * Undefined otherwise.
 */
export function valueRefusedByDatabase(error: unknown): string | undefined {
  return findInChain(error, (candidate) => {
    const message = typeof candidate.code === 'string' ? DATA_EXCEPTION_MESSAGES[candidate.code] : undefined;
    if (message === undefined) return undefined;
    // PostgreSQL names the column's type, not the column: its length is what the caller needs to know.
    const limit = typeof candidate.message === 'string' ? /character varying\((\d+)\)/.exec(candidate.message)?.[1] : undefined;
    return limit ? `${message} (at most ${limit} characters)` : message;
  });
}

/**
 * Whether `error`, or any error it wraps (GraphQL's `originalError`, `cause`, an AggregateError's `errors`), says that
 * a dependency is unreachable or going away: the failure a client should retry, not a bug.
 */
export function isDependencyOutage(error: unknown): boolean {
  return findInChain(error, (candidate) => (isOutageItself(candidate) ? true : undefined)) ?? false;
}
