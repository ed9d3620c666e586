import { systemFork, type Forkable } from '@nexusflow/kit';
import {
  assertRankableVector,
  byScoreThenId,
  chunkId,
  vectorNorm,
  type ChunkMatch,
  type ChunkToStore,
  type Metadata,
  type MetadataFilter,
  type VectorStore,
} from './vector-store.ts';

/** How PostgreSQL ranks: pgvector's cosine distance where the extension is installed, exact cosine similarity in SQL otherwise. */
export type PostgresRanking = 'pgvector' | 'exact';

/** Rows per insert statement: a batch of 1536-dimension chunks is a few MB of JSON, well inside one statement. */
const UPSERT_BATCH = 500;

/**
 * Whether pgvector is installed in this database, as the database itself says: no setting to get wrong. Migration
 * 0002 installs it wherever the server offers it (PGlite loads it for this service; the compose image ships it).
 */
export async function detectPostgresRanking(database: Forkable): Promise<PostgresRanking> {
  const rows = await systemFork(database)
    .getConnection()
    .execute<{ installed: boolean }[]>(
      `select installed_version is not null as "installed" from pg_available_extensions where name = 'vector'`,
    );
  return rows[0]?.installed ? 'pgvector' : 'exact';
}

/**
 * PostgreSQL's SQL text for a vector: `{…}` literal of a float array, with every digit JavaScript has, so that nothing is
 * rounded on the way in beyond the column's own `real`.
 */
const arrayLiteral = (vector: number[]) => `{${vector.join(',')}}`;

interface ChunkRow {
  id: string;
  document_id: string;
  ordinal: number;
  text: string;
  metadata: Metadata;
  score: number;
}

/**
 * The chunks in `document_chunks`, ranked in the database by one of two expressions of the same quantity:
 * - `pgvector`: `1 - (embedding::vector <=> query)`, pgvector's cosine distance. The column stays `real[]` and is cast
 *   per query, so the schema is the same with and without the extension.
 * - `exact`: Σ eᵢqᵢ / (‖e‖‖q‖) over `unnest(embedding, query)`, with ‖e‖ stored on write. Ranking in SQL sends the
 *   database only the query vector and brings back only `topK` rows; ranking in JavaScript would ship every candidate's
 *   vector (100k chunks of 1536 floats is about 1.5 GB as text) for each query.
 * Both scan the tenant's rows (the `tenant_id` index narrows it to them) and order by score, then id.
 */
export class PostgresVectorStore implements VectorStore {
  constructor(
    private readonly database: Forkable,
    readonly kind: PostgresRanking,
  ) {}

  async upsert(tenantId: string, chunks: ChunkToStore[]): Promise<void> {
    for (const chunk of chunks) assertRankableVector(chunk.vector);
    const connection = systemFork(this.database).getConnection();
    for (let start = 0; start < chunks.length; start += UPSERT_BATCH) {
      const rows = chunks.slice(start, start + UPSERT_BATCH).map((chunk) => ({
        id: chunkId(tenantId, chunk.documentId, chunk.ordinal),
        document_id: chunk.documentId,
        ordinal: chunk.ordinal,
        text: chunk.text,
        metadata: chunk.metadata,
        embedding: arrayLiteral(chunk.vector),
      }));
      await connection.execute(
        `insert into "document_chunks" as c
           ("id", "created_at", "tenant_id", "document_id", "ordinal", "text", "metadata", "embedding", "dimensions",
            "embedding_norm")
         select r."id", now(), :tenantId::uuid, r."document_id", r."ordinal", r."text", r."metadata", r."embedding"::real[],
                cardinality(r."embedding"::real[]),
                (select sqrt(sum(x::float8 * x::float8)) from unnest(r."embedding"::real[]) as x)
         from jsonb_to_recordset(:rows::jsonb)
           as r("id" uuid, "document_id" uuid, "ordinal" int, "text" text, "metadata" jsonb, "embedding" text)
         on conflict ("id") do update
           set "text" = excluded."text", "metadata" = excluded."metadata", "embedding" = excluded."embedding", "dimensions" = excluded."dimensions",
               "embedding_norm" = excluded."embedding_norm"`,
        { tenantId, rows: JSON.stringify(rows) },
        'run',
      );
    }
  }

  async deleteDocument(tenantId: string, documentId: string): Promise<void> {
    await systemFork(this.database)
      .getConnection()
      .execute(
        `delete from "document_chunks" where "tenant_id" = :tenantId::uuid and "document_id" = :documentId::uuid`,
        { tenantId, documentId },
        'run',
      );
  }

  async query(tenantId: string, vector: number[], topK: number, filter: MetadataFilter = {}): Promise<ChunkMatch[]> {
    assertRankableVector(vector);
    if (topK <= 0) return [];
    // The query vector is parsed once, in a materialized CTE: a cast written where the score is would run for every row.
    const [query, score] =
      this.kind === 'pgvector'
        ? [`:query::real[]::vector as "v"`, `1 - (c."embedding"::vector <=> q."v")`]
        : [
            `:query::float8[] as "v"`,
            `(select sum(e::float8 * x) from unnest(c."embedding", q."v") as p(e, x)) / (c."embedding_norm" * :queryNorm)`,
          ];
    const rows = await systemFork(this.database)
      .getConnection()
      .execute<ChunkRow[]>(
        `with "q" as materialized (select ${query})
         select c."id", c."document_id", c."ordinal", c."text", c."metadata", ${score} as "score"
         from "document_chunks" as c cross join "q"
         where c."tenant_id" = :tenantId::uuid and c."metadata" @> :filter::jsonb
           and c."dimensions" = :dimensions
         order by "score" desc, c."id"
         limit :topK`,
        {
          tenantId,
          query: arrayLiteral(vector),
          queryNorm: vectorNorm(vector),
          filter: JSON.stringify(filter),
          dimensions: vector.length,
          topK,
        },
      );
    // Sorted again only to make equal scores' order explicit in one place; the database already returned this order.
    return rows
      .map((row) => ({
        id: row.id,
        documentId: row.document_id,
        ordinal: row.ordinal,
        text: row.text,
        metadata: row.metadata,
        score: Number(row.score),
      }))
      .sort(byScoreThenId);
  }
}
