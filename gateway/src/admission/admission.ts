import { GraphQLError, type DocumentNode } from 'graphql';
import { LRUCache } from 'lru-cache';
import { ErrorCode } from '@nexusflow/kit/core';
import { checkVariableDepth, OperationRefused, parseWithinLimits, type OperationLimits } from './operation-limits.ts';
import { TrustedDocumentsMode, type TrustedDocuments } from './trusted-documents.ts';

/** One GraphQL request as a client sent it, before anything trusts its shape. */
export interface GraphQLRequestParams {
  query?: unknown;
  operationName?: unknown;
  variables?: unknown;
  extensions?: unknown;
}

export interface AdmittedOperation {
  /** The text to execute: the client's, or a trusted document's when the client sent an id. */
  query: string;
  document: DocumentNode;
  /** The request to hand on, with a trusted document's text in place of its id. */
  params: GraphQLRequestParams;
}

export interface AdmissionOptions {
  limits: OperationLimits;
  trustedDocuments: TrustedDocuments;
  /** Memory for remembered verdicts (parsed documents and refusals), in bytes. @default 16 MiB */
  cacheBytes?: number;
}

/**
 * Longer texts are judged afresh each time rather than remembered: V8 hashes only the length of a string this
 * long, so many such keys of one length would collide in the cache, and judging them costs little anyway (parsing
 * stops at the token limit).
 */
const LONGEST_REMEMBERED_TEXT = 16_383;

/** A parsed document holds roughly this many bytes per byte of its text. */
const DOCUMENT_BYTES_PER_SOURCE_BYTE = 40;

/** A parsed document, a refusal, or the parser's syntax error (kept with its location). */
type Verdict = DocumentNode | OperationRefused | GraphQLError;

function persistedQueryId(extensions: unknown): string | undefined {
  if (typeof extensions !== 'object' || extensions === null) return undefined;
  const persisted = (extensions as { persistedQuery?: { sha256Hash?: unknown } }).persistedQuery;
  return typeof persisted?.sha256Hash === 'string' ? persisted.sha256Hash : undefined;
}

/**
 * The gateway's first look at an operation, before validation or planning, over HTTP and WebSocket alike: trusted
 * documents, the parser's token limit, the document limits and the depth of variables. Verdicts are remembered by
 * text (in memory bounded by size), so that a document a client sends again costs a lookup.
 */
export class Admission {
  private readonly verdicts: LRUCache<string, Verdict>;

  constructor(private readonly options: AdmissionOptions) {
    this.verdicts = new LRUCache<string, Verdict>({
      maxSize: options.cacheBytes ?? 16 * 1024 * 1024,
      sizeCalculation: (verdict, key) => key.length * ('kind' in verdict ? DOCUMENT_BYTES_PER_SOURCE_BYTE : 1) + 64,
    });
  }

  /**
   * Admits a request or throws {@link OperationRefused}, or the parser's GraphQLError for text that does not parse
   * (which callers answer as GRAPHQL_PARSE_FAILED, as Apollo Server would). Returns undefined for a request without text that Apollo
   * Server answers itself (an automatic persisted query it may have registered, or a request with no query at all).
   */
  admit(params: GraphQLRequestParams, { knownOnly = false }: { knownOnly?: boolean } = {}): AdmittedOperation | undefined {
    const trusted = this.options.trustedDocuments;
    if (params.variables !== undefined) checkVariableDepth(params.variables, this.options.limits.maxVariableDepth);
    if (params.query !== undefined && typeof params.query !== 'string') {
      throw new OperationRefused(ErrorCode.BadRequest, 'The query must be a string');
    }
    const id = persistedQueryId(params.extensions);
    let query = params.query;
    let handed = params;
    if (id !== undefined && trusted.mode !== TrustedDocumentsMode.Off) {
      // graphql-ws requires a query string in every subscribe message: an empty one beside an id sends the id alone.
      query = trusted.resolveId(id, query === '' ? undefined : query);
      // Served from the manifest: Apollo Server must not treat it as an automatic persisted query to register.
      const { persistedQuery: _, ...otherExtensions } = params.extensions as Record<string, unknown>;
      handed = { ...params, query, extensions: otherExtensions };
    }
    if (query === undefined) {
      if (trusted.mode !== TrustedDocumentsMode.Off)
        throw new OperationRefused(ErrorCode.PersistedQueryNotInList, 'Send a trusted document by its id');
      return undefined;
    }
    if (knownOnly && !this.knows(query)) {
      throw new OperationRefused(
        ErrorCode.ServiceUnavailable,
        'The gateway is overloaded and serves only operations it already knows; try again shortly',
        503,
      );
    }
    const document = this.inspect(query);
    if (id === undefined) trusted.checkText(document);
    return { query, document, params: handed };
  }

  /** Whether `query` was admitted before and is still remembered: serving it again costs the gateway little. */
  knows(query: string): boolean {
    const verdict = query.length <= LONGEST_REMEMBERED_TEXT ? this.verdicts.get(query) : undefined;
    return verdict !== undefined && 'kind' in verdict;
  }

  private inspect(query: string): DocumentNode {
    const remembered = query.length <= LONGEST_REMEMBERED_TEXT;
    let verdict = remembered ? this.verdicts.get(query) : undefined;
    if (!verdict) {
      try {
        verdict = parseWithinLimits(query, this.options.limits);
      } catch (error) {
        if (!(error instanceof OperationRefused) && !(error instanceof GraphQLError)) throw error;
        verdict = error;
      }
      if (remembered) this.verdicts.set(query, verdict);
    }
    if (verdict instanceof OperationRefused || verdict instanceof GraphQLError) throw verdict;
    return verdict;
  }
}
