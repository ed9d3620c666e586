/**
 * Messaging: how work and news leave a process. Async queues and the one broadcast primitive that fans a value out to
 * every subscriber of a key, live pub/sub over Redis (or in process) built on it, domain events on the event bus, the
 * work queue, both over one self-healing AMQP connection, and the transactional outbox that publishes events
 * written with the state they report. It depends on the platform, and on storage only where the outbox writes its rows.
 */
export * from './async-queue.ts';
export * from './broadcast.ts';
export * from './event-bus.ts';
export * from './outbox.ts';
export * from './pubsub.ts';
export * from './work-queue.ts';
