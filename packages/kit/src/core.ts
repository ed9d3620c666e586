/**
 * The kit without storage: configuration, errors, identity, HTTP, health, logs, metrics, rate limits, async
 * queues, and the event bus the gateway publishes its audit records on. The gateway imports only this, so that it
 * does not load MikroORM and PGlite, which it never uses (most of 100 MB of resident memory). It therefore names
 * files, not the boundaries' barrels, which would load everything beside them.
 */
export * from './platform/access-token.ts';
export * from './platform/api-key.ts';
export * from './platform/config.ts';
export * from './platform/errors.ts';
export * from './platform/health.ts';
export * from './platform/http.ts';
export * from './platform/identity.ts';
export * from './platform/jwks-access-token.ts';
export * from './platform/lifecycle.ts';
export * from './platform/logger.ts';
export * from './platform/metrics.ts';
export * from './platform/outages.ts';
export * from './platform/process-lock.ts';
export * from './platform/rate-limit.ts';
export * from './platform/redaction.ts';
export * from './platform/schema-coordinates.ts';
export * from './platform/revoked-sessions.ts';
export * from './platform/telemetry.ts';
export * from './messaging/async-queue.ts';
export * from './messaging/broadcast.ts';
export * from './messaging/event-bus.ts';
export * from './storage/embedded-database-lock.ts';
export * from './runtime/subgraph-client.ts';
export * from './runtime/subscriptions.ts';
