import { Migration } from '@mikro-orm/migrations';

export class DocumentsSchema extends Migration {
  override name = '0002-documents';

  override up(): void {
    // pgvector where the server has it (PGlite loads it for this service, the compose image ships it); the store asks
    // the database at start-up whether it is installed, and ranks with exact cosine similarity when it is not.
    this.addSql(`do $$ begin
      if exists (select 1 from pg_available_extensions where name = 'vector') then
        create extension if not exists vector;
      end if;
    exception when insufficient_privilege then
      raise notice 'pgvector is available but this role may not create it; ranking falls back to exact cosine similarity';
    end $$`);
    this.addSql(`create table "documents" (
      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "created_by" uuid not null,
      "external_id" varchar(255) null, "title" varchar(255) not null, "metadata" jsonb not null, "chunk_count" int not null,
      "model" varchar(255) not null, primary key ("id"))`);
    this.addSql(`create index "documents_tenant_id_index" on "documents" ("tenant_id")`);
    this.addSql(`alter table "documents" add constraint "documents_tenant_id_external_id_unique" unique ("tenant_id", "external_id")`);
    this.addSql(`create table "document_chunks" (
      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "document_id" uuid not null,
      "ordinal" int not null, "text" text not null, "metadata" jsonb not null, "embedding" real[] not null,
      "dimensions" int not null, "embedding_norm" double precision not null, primary key ("id"))`);
    this.addSql(`create index "document_chunks_tenant_id_document_id_index" on "document_chunks" ("tenant_id", "document_id")`);
  }

  override down(): void {
    this.addSql('drop table "document_chunks"');
    this.addSql('drop table "documents"');
  }
}
