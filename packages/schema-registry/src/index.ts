export * from './acknowledgements.ts';
export * from './changes.ts';
export * from './check.ts';
export * from './composition.ts';
export * from './lint.ts';
export * from './operations.ts';
export * from './registry.ts';
export * from './report.ts';
