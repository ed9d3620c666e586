export * from './deferred.ts';
export * from './environment.ts';
export * from './databases.ts';
export * from './graphql-client.ts';
export * from './migrations.ts';
export * from './logger.ts';
export * from './subgraph-under-test.ts';
export * from './tcp-proxy.ts';
