/**
 * The subgraph runtime: what turns a schema and resolvers into a running subgraph. `defineSubgraph` starts it and
 * builds each request's context, GraphQL subscriptions over WebSocket, DataLoader helpers, the shared scalars, and
 * typed calls to other subgraphs. It sits on top and may depend on the platform, messaging and storage.
 */
export * from './loaders.ts';
export * from './scalars.ts';
export * from './subgraph-client.ts';
export * from './subgraph.ts';
export * from './subscriptions.ts';
export * from './tenant-answer-cache.ts';
