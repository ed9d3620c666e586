/** token-mgr's types reference no other entity, and no other subgraph references its own: nothing to batch yet. */
export function createLoaders() {
  return {};
}

export type TokenMgrLoaders = ReturnType<typeof createLoaders>;
