/** The whole kit, boundary by boundary (see each folder's index.ts for what it holds and may depend on). */
export * from './platform/index.ts';
export * from './messaging/index.ts';
export * from './storage/index.ts';
export * from './runtime/index.ts';
export * from './scheduling/index.ts';
