/**
 * Storage: a service's database. Opening PostgreSQL or an embedded PGlite (locked to one process, or shared by the
 * services of one process, a schema and role each) through MikroORM with
 * its migrations, the pool that survives an outage, the columns every entity shares, and tenant isolation enforced by
 * the ORM. It depends on the platform only.
 */
export * from './database.ts';
export * from './embedded-database-lock.ts';
export * from './entity-base.ts';
export * from './group-commit.ts';
export * from './shared-embedded-postgres.ts';
export * from './tenant-scope.ts';
