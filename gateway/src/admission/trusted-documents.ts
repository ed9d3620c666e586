import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, print, type DocumentNode } from 'graphql';
import { z } from 'zod';
import { ErrorCode } from '@nexusflow/kit/core';
import { OperationRefused } from './operation-limits.ts';

/**
 * How the gateway treats operations that are not in a known persisted-query manifest, like Apollo Router's
 * `persisted_queries` (`safelist`, `require_id`):
 * - `off`: manifests are not read; any operation is served.
 * - `allow`: operations are served by manifest id as well as by text; unknown text is still served.
 * - `safelist`: only manifest operations are served, by id or by their exact text (whitespace and comments aside).
 * - `require-id`: only manifest operations, and only by id: the recommended production setting for first-party clients.
 */
export enum TrustedDocumentsMode {
  Off = 'off',
  Allow = 'allow',
  Safelist = 'safelist',
  RequireId = 'require-id',
}

const manifestSchema = z.object({
  format: z.literal('apollo-persisted-query-manifest'),
  version: z.literal(1),
  operations: z.array(z.object({ id: z.string().min(1), name: z.string(), type: z.string(), body: z.string() })),
});

export interface TrustedDocument {
  id: string;
  name: string;
  body: string;
  /** Where the gateway read it. */
  manifest: string;
}

/** The text two documents share when they differ only in whitespace, commas and comments. */
function normalised(body: string): string {
  return print(parse(body, { noLocation: true }));
}

/** The persisted-query manifests (Apollo's format) under a folder, as the schema registry finds them for its checks. */
export async function findManifests(directory: string): Promise<string[]> {
  const entries = await readdir(directory, { withFileTypes: true, recursive: true }).catch(() => []);
  const candidates = entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.json') && !entry.parentPath.includes('node_modules'))
    .map((entry) => join(entry.parentPath, entry.name))
    .sort();
  const manifests: string[] = [];
  for (const file of candidates) {
    let content: unknown;
    try {
      content = JSON.parse(await readFile(file, 'utf8'));
    } catch {
      continue;
    }
    if (manifestSchema.safeParse(content).success) manifests.push(file);
  }
  return manifests;
}

export class TrustedDocuments {
  private readonly byId = new Map<string, TrustedDocument>();
  private readonly byText = new Set<string>();

  private constructor(readonly mode: TrustedDocumentsMode) {}

  /** Reads every manifest; a manifest that is missing or malformed is a start-up error, never a silently empty list. */
  static async load(mode: TrustedDocumentsMode, manifestFiles: string[]): Promise<TrustedDocuments> {
    const trusted = new TrustedDocuments(mode);
    if (mode === TrustedDocumentsMode.Off) return trusted;
    for (const file of manifestFiles) {
      const parsed = manifestSchema.safeParse(JSON.parse(await readFile(file, 'utf8')));
      if (!parsed.success) throw new Error(`${file} is not an Apollo persisted-query manifest: ${parsed.error.issues[0]?.message}`);
      for (const operation of parsed.data.operations) {
        const existing = trusted.byId.get(operation.id);
        if (existing && existing.body !== operation.body)
          throw new Error(`${file}: id ${operation.id} is also used by ${existing.manifest} for another operation`);
        trusted.byId.set(operation.id, { id: operation.id, name: operation.name, body: operation.body, manifest: file });
        trusted.byText.add(normalised(operation.body));
      }
    }
    return trusted;
  }

  get size(): number {
    return this.byId.size;
  }

  /**
   * The text to execute for a request by id (`extensions.persistedQuery.sha256Hash`, as Apollo clients send it): the
   * manifest's body. Throws when the id is unknown, unless the mode lets the request's own text through.
   */
  resolveId(persistedQueryId: string, query: string | undefined): string {
    const document = this.byId.get(persistedQueryId);
    if (document) {
      if (query !== undefined && query !== document.body && sha256(query) !== persistedQueryId) {
        throw new OperationRefused(ErrorCode.BadRequest, 'The query does not match the persisted query with this id');
      }
      return document.body;
    }
    if (query === undefined || this.mode !== TrustedDocumentsMode.Allow) {
      throw new OperationRefused(ErrorCode.PersistedQueryNotInList, 'No trusted document has this id');
    }
    return query;
  }

  /** Refuses a document sent as text, not by id, unless the mode serves it. */
  checkText(document: DocumentNode): void {
    if (this.mode === TrustedDocumentsMode.Off || this.mode === TrustedDocumentsMode.Allow) return;
    if (this.mode === TrustedDocumentsMode.RequireId) {
      throw new OperationRefused(ErrorCode.PersistedQueryNotInList, 'This gateway serves trusted documents by id only');
    }
    if (!this.byText.has(print(document))) {
      throw new OperationRefused(ErrorCode.PersistedQueryNotInList, 'This operation is not in the list of trusted documents');
    }
  }
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
