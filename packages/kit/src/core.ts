/**
 * The kit without storage or brokers: configuration, errors, identity, HTTP, health, logs, metrics, rate
 * limits and async queues. The gateway imports only this, so that it does not load MikroORM, PGlite and the
 * AMQP client it never uses (about 100 MB of resident memory).
 */
export * from './access-token.ts';
export * from './async-queue.ts';
export * from './broadcast.ts';
export * from './config.ts';
export * from './embedded-database-lock.ts';
export * from './errors.ts';
export * from './health.ts';
export * from './http.ts';
export * from './identity.ts';
export * from './lifecycle.ts';
export * from './logger.ts';
export * from './metrics.ts';
export * from './outages.ts';
export * from './process-lock.ts';
export * from './rate-limit.ts';
export * from './subscriptions.ts';
