import type { KeyValueCache } from '@apollo/utils.keyvaluecache';
import type { DocumentNode } from 'graphql';
import { LRUCache } from 'lru-cache';

/**
 * A parsed document holds roughly this many bytes per byte of its text: its AST and, through `loc`, every token
 * of the text, which Apollo Server's default cache does not count (it weighs a document by its JSON, without them).
 */
const BYTES_PER_SOURCE_BYTE = 60;

/**
 * Apollo Server's cache of parsed and validated documents, bounded by what the documents really hold. The default
 * one weighs each document by serialising it, which both under-counts it several times over and costs a
 * serialisation per new document: under a flood of new documents, the heap grew well past its nominal 30 MiB.
 */
export function documentStore(maxBytes: number): KeyValueCache<DocumentNode> {
  const cache = new LRUCache<string, DocumentNode>({
    maxSize: maxBytes,
    sizeCalculation: (document, key) => key.length + Math.max(1, document.loc?.end ?? 1000) * BYTES_PER_SOURCE_BYTE,
  });
  return {
    get: async (key) => cache.get(key),
    set: async (key, value) => {
      cache.set(key, value);
    },
    delete: async (key) => cache.delete(key),
  };
}
