import { Migration } from '@mikro-orm/migrations';
import { defineEntity, p } from '@mikro-orm/postgresql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from './database.ts';
import { entityBase, tenantId, updatedAt } from './entity-base.ts';
import { ANONYMOUS, Role, type Identity } from '../platform/identity.ts';
import { createLogger } from '../platform/logger.ts';
import { Metrics } from '../platform/metrics.ts';
import { systemFork, tenantCondition, tenantFilter, tenantFork } from './tenant-scope.ts';
import { createTempDirectory } from '../testing/databases.ts';

const NoteSchema = defineEntity({
  name: 'Note',
  tableName: 'notes',
  filters: tenantFilter(),
  properties: { ...entityBase, ...updatedAt, ...tenantId, text: p.string() },
});
class Note extends NoteSchema.class {}
NoteSchema.setClass(Note);

class NotesTable extends Migration {
  override name = '0001-notes';

  override up(): void {
    this.addSql(
      `create table "notes" ("id" uuid not null primary key, "created_at" timestamptz not null, "updated_at" timestamptz not null, "tenant_id" uuid not null, "text" varchar(255) not null)`,
    );
  }
}

const ACME = crypto.randomUUID();
const GLOBEX = crypto.randomUUID();
const memberOf = (tenant: string): Identity => ({ kind: 'user', userId: crypto.randomUUID(), tenantId: tenant, roles: [Role.Member] });
const texts = (notes: Note[]) => notes.map((note) => note.text).sort();

describe('tenant scope', () => {
  let database: Database;
  let dataDir: Awaited<ReturnType<typeof createTempDirectory>>;

  beforeAll(async () => {
    dataDir = await createTempDirectory('tenant-scope');
    database = await openDatabase({
      serviceName: 'tenant-scope',
      url: undefined,
      embeddedDirectory: dataDir.path,
      entities: [Note],
      migrations: [{ name: '0001-notes', class: NotesTable }],
      metrics: new Metrics('tenant-scope-test'),
      logger: createLogger({ name: 'tenant-scope-test', level: 'silent' }),
    });
    const seeding = systemFork(database);
    for (const [tenant, text] of [
      [ACME, 'acme 1'],
      [ACME, 'acme 2'],
      [GLOBEX, 'globex 1'],
    ] as const)
      seeding.create(Note, { tenantId: tenant, text });
    await seeding.flush();
  });

  afterAll(async () => {
    await database?.close();
    await dataDir?.remove();
  });

  it("returns only the caller's tenant's rows from a query that names no tenant", async () => {
    expect(texts(await tenantFork(database, memberOf(ACME)).find(Note, {}))).toEqual(['acme 1', 'acme 2']);
    expect(texts(await tenantFork(database, memberOf(GLOBEX)).findAll(Note))).toEqual(['globex 1']);
  });

  it('finds no row of another tenant even by its id, nor counts it', async () => {
    const [globexNote] = await systemFork(database).find(Note, { tenantId: GLOBEX });
    const acme = tenantFork(database, memberOf(ACME));
    expect(await acme.findOne(Note, globexNote!.id)).toBeNull();
    expect(await acme.count(Note, { text: 'globex 1' })).toBe(0);
  });

  it('shows anonymous callers no row at all, and lets them write none', async () => {
    const anonymous = tenantFork(database, ANONYMOUS);
    expect(await anonymous.find(Note, {})).toEqual([]);
    expect(await anonymous.count(Note)).toBe(0);
    anonymous.create(Note, { tenantId: ACME, text: 'anonymous' });
    await expect(anonymous.flush()).rejects.toThrow(/belongs to another tenant/);
  });

  it("changes and deletes none of another tenant's rows through bulk updates and deletes", async () => {
    const acme = tenantFork(database, memberOf(ACME));
    expect(await acme.nativeUpdate(Note, { text: 'globex 1' }, { text: 'taken over' })).toBe(0);
    expect(await acme.nativeDelete(Note, { text: 'globex 1' })).toBe(0);
    expect(texts(await systemFork(database).find(Note, { tenantId: GLOBEX }))).toEqual(['globex 1']);
  });

  it('keeps the scope in units of work forked from a scoped one', async () => {
    expect(texts(await tenantFork(database, memberOf(GLOBEX)).fork().find(Note, {}))).toEqual(['globex 1']);
  });

  it('sees every tenant from a system fork, which work across tenants opts into by name', async () => {
    expect(texts(await systemFork(database).find(Note, {}))).toEqual(['acme 1', 'acme 2', 'globex 1']);
    expect(texts(await systemFork(tenantFork(database, ANONYMOUS)).find(Note, {}))).toEqual(['acme 1', 'acme 2', 'globex 1']);
  });

  it('refuses a query of tenant-owned rows from a unit of work with no scope, rather than guessing one', async () => {
    await expect(database.fork().find(Note, {})).rejects.toThrow(/Note was queried without a tenant scope/);
  });

  it('refuses to create a row for another tenant, or to move one there', async () => {
    const acme = tenantFork(database, memberOf(ACME));
    acme.create(Note, { tenantId: GLOBEX, text: 'planted' });
    await expect(acme.flush()).rejects.toThrow(/Note belongs to another tenant/);

    const mover = tenantFork(database, memberOf(ACME));
    const [note] = await mover.find(Note, { text: 'acme 1' });
    note!.tenantId = GLOBEX;
    await expect(mover.flush()).rejects.toThrow(/Note belongs to another tenant/);
    expect(texts(await systemFork(database).find(Note, { tenantId: GLOBEX }))).toEqual(['globex 1']);
  });

  it("writes the caller's own tenant's rows, and any tenant's from a system fork", async () => {
    const acme = tenantFork(database, memberOf(ACME));
    acme.create(Note, { tenantId: ACME, text: 'acme 3' });
    await acme.flush();
    const system = systemFork(database);
    system.create(Note, { tenantId: GLOBEX, text: 'globex 2' });
    await system.flush();
    const written = { text: { $in: ['acme 3', 'globex 2'] } };
    expect(texts(await systemFork(database).find(Note, written))).toEqual(['acme 3', 'globex 2']);
    await systemFork(database).nativeDelete(Note, written);
  });

  it('refuses to write tenant-owned rows from a unit of work with no scope', async () => {
    const unscoped = database.fork();
    unscoped.create(Note, { tenantId: ACME, text: 'unscoped' });
    await expect(unscoped.flush()).rejects.toThrow(/Note was written without a tenant scope/);
  });

  it('gives raw SQL the same tenant clause as the filter', async () => {
    const rawTexts = async (em: ReturnType<Database['fork']>) => {
      const tenant = tenantCondition(em, 'n."tenant_id"');
      const rows = await em
        .getConnection()
        .execute<{ text: string }[]>(`select n."text" from "notes" n where ${tenant.sql} order by n."text"`, tenant.params);
      return rows.map((row) => row.text);
    };
    expect(await rawTexts(tenantFork(database, memberOf(ACME)))).toEqual(['acme 1', 'acme 2']);
    expect(await rawTexts(tenantFork(database, ANONYMOUS))).toEqual([]);
    expect(await rawTexts(systemFork(database))).toEqual(['acme 1', 'acme 2', 'globex 1']);
    expect(() => tenantCondition(database.fork(), 'n."tenant_id"')).toThrow(/needs a tenant scope/);
  });
});
