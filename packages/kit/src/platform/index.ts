/**
 * The platform: what every NexusFlow process needs before it stores or sends anything. Configuration read from the
 * environment, the HTTP server with its health and metrics routes, the one list of error codes, logging, Prometheus
 * metrics, signed identities and access tokens, rate limits, ids, dependency outages, and the process lifecycle with
 * its lock. It depends on nothing else in the kit, so that the gateway and every other boundary can build on it.
 */
export * from './access-token.ts';
export * from './api-key.ts';
export * from './config.ts';
export * from './downloads.ts';
export * from './errors.ts';
export * from './expressions.ts';
export * from './health.ts';
export * from './http.ts';
export * from './identity.ts';
export * from './ids.ts';
export * from './dates.ts';
export * from './input.ts';
export * from './jwks-access-token.ts';
export * from './lifecycle.ts';
export * from './logger.ts';
export * from './metrics.ts';
export * from './outages.ts';
export * from './passwords.ts';
export * from './periodic-task.ts';
export * from './process-lock.ts';
export * from './rate-limit.ts';
export * from './recurrence.ts';
export * from './redaction.ts';
export * from './revoked-sessions.ts';
export * from './schema-coordinates.ts';
export * from './sealed-box.ts';
export * from './telemetry.ts';
