import type { ScaffoldNames } from './names.ts';

/** Versions every subgraph pins, taken from the kit so that a new subgraph resolves with the rest. */
export type PinnedVersions = Record<
  '@mikro-orm/core' | '@mikro-orm/migrations' | '@mikro-orm/postgresql' | 'dataloader' | 'graphql' | 'zod',
  string
>;

const lines = (...text: string[]) => `${text.join('\n')}\n`;

export function packageJson(n: ScaffoldNames, versions: PinnedVersions): string {
  const manifest = {
    name: `@${n.graph}/${n.service}`,
    version: '0.1.0',
    private: true,
    type: 'module',
    description: `${n.servicePascal} subgraph of the ${n.graph} graph`,
    scripts: { start: 'tsx src/main.ts' },
    dependencies: {
      '@mikro-orm/core': versions['@mikro-orm/core'],
      '@mikro-orm/migrations': versions['@mikro-orm/migrations'],
      '@mikro-orm/postgresql': versions['@mikro-orm/postgresql'],
      '@nexusflow/kit': '0.1.0',
      '@nexusflow/topology': '0.1.0',
      dataloader: versions.dataloader,
      graphql: versions.graphql,
      zod: versions.zod,
    },
  };
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

export const schemaGraphql = (n: ScaffoldNames) =>
  lines(
    'extend schema @link(url: "https://specs.apollo.dev/federation/v2.11", import: ["@key", "@listSize"])',
    '',
    '"""',
    'An ISO-8601 instant in UTC, e.g. 2026-01-31T12:00:00.000Z',
    '"""',
    'scalar DateTime',
    '',
    '"""',
    `A ${n.entityKebab.replaceAll('-', ' ')} of the caller's tenant.`,
    '"""',
    `type ${n.entity} @key(fields: "id") {`,
    '  "Stable identifier, a UUID."',
    '  id: ID!',
    '  "What people call it, 1 to 200 characters."',
    '  name: String!',
    '  "When it was created."',
    '  createdAt: DateTime!',
    '}',
    '',
    '"""',
    `What a new ${n.entity} is made of.`,
    '"""',
    `input Create${n.entity}Input {`,
    '  "1 to 200 characters; surrounding spaces are removed."',
    '  name: String!',
    '}',
    '',
    'type Query {',
    `  "The caller's tenant's ${n.entityPlural}, newest first; at most 100."`,
    `  ${n.entityPlural}(first: Int = 20): [${n.entity}!]! @listSize(slicingArguments: ["first"])`,
    `  "One ${n.entity} of the caller's tenant, or null when it has none with that id."`,
    `  ${n.entityCamel}(id: ID!): ${n.entity}`,
    '}',
    '',
    'type Mutation {',
    `  "Creates a ${n.entity} in the caller's tenant; needs the OWNER, ADMIN or MEMBER role."`,
    `  create${n.entity}(input: Create${n.entity}Input!): ${n.entity}!`,
    '}',
  );

export const configTs = (n: ScaffoldNames) =>
  lines(
    "import { loadSubgraphConfig, subgraphEnv, type Environment } from '@nexusflow/kit';",
    "import { serviceDefaults } from '@nexusflow/topology';",
    "import { z } from 'zod';",
    '',
    `const ${n.serviceCamel}EnvSchema = z.object({`,
    `  ...subgraphEnv(serviceDefaults('${n.graph}', '${n.service}')),`,
    '});',
    '',
    '/** Settings of its own go in the schema above and, read from `parsed`, in the object this returns beside `subgraph`. */',
    `export function load${n.servicePascal}Config(env?: Environment) {`,
    `  return loadSubgraphConfig('${n.service}', ${n.serviceCamel}EnvSchema, env, () => ({}));`,
    '}',
    '',
    `export type ${n.servicePascal}Config = ReturnType<typeof load${n.servicePascal}Config>;`,
  );

export const contextTs = (n: ScaffoldNames) =>
  lines(
    "import type { SubgraphContext } from '@nexusflow/kit';",
    `import type { ${n.entity}Service } from './domain/${n.entityKebab}-service.ts';`,
    `import type { ${n.servicePascal}Loaders } from './loaders.ts';`,
    '',
    `export interface ${n.servicePascal}Services {`,
    `  ${n.entityPlural}: ${n.entity}Service;`,
    '}',
    '',
    `export type ${n.servicePascal}Context = SubgraphContext<${n.servicePascal}Loaders, ${n.servicePascal}Services>;`,
  );

export const entityTs = (n: ScaffoldNames) =>
  lines(
    "import { entityBase, tenantFilter } from '@nexusflow/kit';",
    "import { defineEntity, p } from '@mikro-orm/postgresql';",
    '',
    `/** A ${n.entityKebab.replaceAll('-', ' ')} of one tenant: the tenant filter keeps other tenants' rows out of every query. */`,
    `export const ${n.entity}Schema = defineEntity({`,
    `  name: '${n.entity}',`,
    `  tableName: '${n.table}',`,
    '  filters: tenantFilter(),',
    '  properties: {',
    '    ...entityBase,',
    '    tenantId: p.uuid().index(),',
    '    /** The user who created it. */',
    '    createdBy: p.uuid(),',
    '    name: p.string(),',
    '  },',
    '});',
    '',
    `export class ${n.entity} extends ${n.entity}Schema.class {}`,
    `${n.entity}Schema.setClass(${n.entity});`,
  );

const migrationClass = (n: ScaffoldNames) => `Initial${n.servicePascal}Schema`;

export const initialMigrationTs = (n: ScaffoldNames) =>
  lines(
    "import { Migration } from '@mikro-orm/migrations';",
    '',
    `export class ${migrationClass(n)} extends Migration {`,
    "  override name = '0001-initial';",
    '',
    '  override up(): void {',
    `    this.addSql(\`create table "${n.table}" (`,
    '      "id" uuid not null, "created_at" timestamptz not null, "tenant_id" uuid not null, "created_by" uuid not null,',
    '      "name" varchar(255) not null, primary key ("id"))`);',
    `    this.addSql(\`create index "${n.table}_tenant_id_index" on "${n.table}" ("tenant_id")\`);`,
    '  }',
    '',
    '  override down(): void {',
    `    this.addSql('drop table "${n.table}"');`,
    '  }',
    '}',
  );

export const migrationsIndexTs = (n: ScaffoldNames) =>
  lines(
    "import type { MigrationObject } from '@mikro-orm/core';",
    `import { ${migrationClass(n)} } from './0001-initial.ts';`,
    '',
    '/** In order of application; never reorder or edit an applied migration, add a new one. */',
    `export const migrations: MigrationObject[] = [{ name: '0001-initial', class: ${migrationClass(n)} }];`,
  );

export const loadersTs = (n: ScaffoldNames) =>
  lines(
    "import { loaderById, type EntityManager } from '@nexusflow/kit';",
    `import { ${n.entity} } from './entities/${n.entityKebab}.entity.ts';`,
    '',
    "/** Every query runs in the request's unit of work, which sees the caller's tenant only (the kit's tenant filter). */",
    'export function createLoaders(em: EntityManager) {',
    `  return { ${n.entityCamel}ById: loaderById(em, ${n.entity}) };`,
    '}',
    '',
    `export type ${n.servicePascal}Loaders = ReturnType<typeof createLoaders>;`,
  );

export const serviceTs = (n: ScaffoldNames) =>
  lines(
    "import { badUserInput, requireRole, WRITER_ROLES, type EntityManager, type Identity } from '@nexusflow/kit';",
    "import { z } from 'zod';",
    `import { ${n.entity} } from '../entities/${n.entityKebab}.entity.ts';`,
    '',
    'const MAX_PAGE = 100;',
    '',
    `const create${n.entity}InputSchema = z.object({`,
    "  name: z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters'),",
    '});',
    '',
    `/** The ${n.entityPlural} of the caller's tenant: the request's unit of work sees no other tenant's. */`,
    `export class ${n.entity}Service {`,
    `  async list(em: EntityManager, first: number): Promise<${n.entity}[]> {`,
    '    const limit = Math.min(Math.max(first, 0), MAX_PAGE);',
    '    if (limit === 0) return [];',
    `    return em.find(${n.entity}, {}, { orderBy: { createdAt: 'desc', id: 'desc' }, limit });`,
    '  }',
    '',
    '  /** Needs a writer role: a VIEWER is refused with FORBIDDEN, an anonymous caller with UNAUTHENTICATED. */',
    `  async create(em: EntityManager, identity: Identity, input: unknown): Promise<${n.entity}> {`,
    '    const caller = requireRole(identity, WRITER_ROLES);',
    `    const parsed = create${n.entity}InputSchema.safeParse(input);`,
    '    if (!parsed.success) {',
    '      const issue = parsed.error.issues[0]!;',
    "      const field = issue.path.join('.');",
    '      throw badUserInput(`"${field}" ${issue.message}`, { field });',
    '    }',
    `    const ${n.entityCamel} = em.create(${n.entity}, { tenantId: caller.tenantId, createdBy: caller.userId, name: parsed.data.name });`,
    '    await em.flush();',
    `    return ${n.entityCamel};`,
    '  }',
    '}',
  );

export const resolversIndexTs = (n: ScaffoldNames) =>
  lines(
    "import { DateTimeScalar } from '@nexusflow/kit';",
    "import type { Resolvers } from '../__generated__/resolvers-types.ts';",
    `import { ${n.entity} } from './${n.entity}.ts';`,
    "import { Mutation } from './Mutation.ts';",
    "import { Query } from './Query.ts';",
    '',
    `export const resolvers: Resolvers = { DateTime: DateTimeScalar, Query, Mutation, ${n.entity} };`,
  );

export const queryResolversTs = (n: ScaffoldNames) =>
  lines(
    "import { requireUuid } from '@nexusflow/kit';",
    "import type { QueryResolvers } from '../__generated__/resolvers-types.ts';",
    '',
    'export const Query: QueryResolvers = {',
    `  ${n.entityPlural}: (_parent, { first }, { em, services }) => services.${n.entityPlural}.list(em, first ?? 20),`,
    `  ${n.entityCamel}: (_parent, { id }, { loaders }) => loaders.${n.entityCamel}ById.load(requireUuid(id, 'id')),`,
    '};',
  );

export const mutationResolversTs = (n: ScaffoldNames) =>
  lines(
    "import type { MutationResolvers } from '../__generated__/resolvers-types.ts';",
    '',
    'export const Mutation: MutationResolvers = {',
    `  create${n.entity}: (_parent, { input }, { em, identity, services }) => services.${n.entityPlural}.create(em, identity, input),`,
    '};',
  );

export const entityResolversTs = (n: ScaffoldNames) =>
  lines(
    "import { isUuid } from '@nexusflow/kit';",
    `import type { ${n.entity}Resolvers } from '../__generated__/resolvers-types.ts';`,
    '',
    `export const ${n.entity}: ${n.entity}Resolvers = {`,
    `  __resolveReference: ({ id }, { loaders }) => (isUuid(id) ? loaders.${n.entityCamel}ById.load(id) : null),`,
    '};',
  );

export const subgraphTs = (n: ScaffoldNames) =>
  lines(
    "import { defineSubgraph } from '@nexusflow/kit';",
    `import { load${n.servicePascal}Config } from './config.ts';`,
    `import { ${n.entity}Service } from './domain/${n.entityKebab}-service.ts';`,
    `import { ${n.entity} } from './entities/${n.entityKebab}.entity.ts';`,
    "import { createLoaders } from './loaders.ts';",
    "import { migrations } from './migrations/index.ts';",
    "import { resolvers } from './resolvers/index.ts';",
    '',
    `export const entities = [${n.entity}];`,
    '',
    'export const subgraph = defineSubgraph({',
    `  name: '${n.service}',`,
    "  schema: new URL('../schema.graphql', import.meta.url),",
    `  config: load${n.servicePascal}Config,`,
    '  entities,',
    '  migrations,',
    '  resolvers,',
    '  createLoaders,',
    `  createServices: () => ({ ${n.entityPlural}: new ${n.entity}Service() }),`,
    '});',
  );

export const mainTs = () =>
  lines("import { runSubgraph } from '@nexusflow/kit';", "import { subgraph } from './subgraph.ts';", '', 'await runSubgraph(subgraph);');

export const entityContractTestTs = (n: ScaffoldNames) =>
  lines(
    "import { describeEntityContract } from '@nexusflow/kit/testing';",
    `import { ${n.entity} } from '../src/entities/${n.entityKebab}.entity.ts';`,
    "import { subgraph } from '../src/subgraph.ts';",
    '',
    `describeEntityContract('${n.service}', {`,
    '  start: (env) => subgraph.start(env),',
    '  entities: {',
    `    ${n.entity}: {`,
    "      selection: 'name createdAt',",
    '      create: (em, tenantId, count) =>',
    `        Array.from({ length: count }, (_, index) => em.create(${n.entity}, { tenantId, createdBy: tenantId, name: \`${n.entity} \${index}\` }).id),`,
    '    },',
    '  },',
    '});',
  );

export const migrationsTestTs = (n: ScaffoldNames) =>
  lines(
    "import { describeMigrations } from '@nexusflow/kit/testing';",
    "import { migrations } from '../src/migrations/index.ts';",
    "import { entities } from '../src/subgraph.ts';",
    '',
    `describeMigrations('${n.service}', entities, migrations);`,
  );

export const behaviourTestTs = (n: ScaffoldNames) =>
  lines(
    "import { randomUUID } from 'node:crypto';",
    "import { afterAll, beforeAll, describe, expect, it } from 'vitest';",
    "import { Role, type Identity } from '@nexusflow/kit';",
    "import { startSubgraphUnderTest, type SubgraphUnderTest } from '@nexusflow/kit/testing';",
    `import type { ${n.servicePascal}Services } from '../src/context.ts';`,
    "import { subgraph } from '../src/subgraph.ts';",
    '',
    `const CREATE = 'mutation ($input: Create${n.entity}Input!) { create${n.entity}(input: $input) { id name createdAt } }';`,
    `const LIST = 'query ($first: Int) { ${n.entityPlural}(first: $first) { id name } }';`,
    `const FIND = 'query ($id: ID!) { ${n.entityCamel}(id: $id) { id name } }';`,
    '',
    "const member = (tenantId: string, roles = [Role.Member]): Identity => ({ kind: 'user', userId: randomUUID(), tenantId, roles });",
    '',
    `describe('the ${n.service} subgraph', () => {`,
    `  let under: SubgraphUnderTest<${n.servicePascal}Services>;`,
    '',
    '  beforeAll(async () => {',
    `    under = await startSubgraphUnderTest('${n.service}-behaviour', (env) => subgraph.start(env));`,
    '  });',
    '',
    '  afterAll(async () => {',
    '    await under?.close();',
    '  });',
    '',
    `  const create = (identity: Identity, name: string) => under.ask<{ create${n.entity}: { id: string; name: string } }>(identity, CREATE, { input: { name } });`,
    '',
    `  it('creates a ${n.entity} that its tenant finds by id and in its list', async () => {`,
    '    const tenantA = member(randomUUID());',
    `    const first = (await create(tenantA, '  First  ')).data!.create${n.entity};`,
    `    const second = (await create(tenantA, 'Second')).data!.create${n.entity};`,
    "    expect(first.name).toBe('First');",
    `    expect((await under.ask(tenantA, FIND, { id: first.id })).data).toEqual({ ${n.entityCamel}: { id: first.id, name: 'First' } });`,
    `    const listed = await under.ask<{ ${n.entityPlural}: { id: string }[] }>(tenantA, LIST, {});`,
    `    expect(listed.data?.${n.entityPlural}.map(({ id }) => id).sort()).toEqual([first.id, second.id].sort());`,
    `    expect((await under.ask<{ ${n.entityPlural}: unknown[] }>(tenantA, LIST, { first: 1 })).data?.${n.entityPlural}).toHaveLength(1);`,
    '  });',
    '',
    `  it("shows another tenant none of a tenant's ${n.entityPlural}", async () => {`,
    '    const [tenantA, tenantB] = [member(randomUUID()), member(randomUUID())];',
    "    const created = await create(tenantA, 'Private');",
    `    expect((await under.ask(tenantB, FIND, { id: created.data?.create${n.entity}.id })).data).toEqual({ ${n.entityCamel}: null });`,
    `    expect((await under.ask(tenantB, LIST, {})).data).toEqual({ ${n.entityPlural}: [] });`,
    '  });',
    '',
    "  it('refuses a VIEWER with FORBIDDEN and an anonymous caller with UNAUTHENTICATED, storing nothing', async () => {",
    '    const viewer = member(randomUUID(), [Role.Viewer]);',
    "    const refused = await create(viewer, 'Not allowed');",
    "    expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');",
    "    const anonymous = await under.ask({ kind: 'anonymous' }, CREATE, { input: { name: 'Nobody' } });",
    "    expect(anonymous.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');",
    `    expect((await under.ask(viewer, LIST, {})).data).toEqual({ ${n.entityPlural}: [] });`,
    '  });',
    '',
    "  it('answers a blank name and a malformed id with BAD_USER_INPUT naming the field, logging no error', async () => {",
    '    const tenantA = member(randomUUID());',
    "    const blank = await create(tenantA, '   ');",
    "    expect(blank.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'name' } });",
    "    const malformed = await under.ask(tenantA, FIND, { id: 'not-a-uuid' });",
    "    expect(malformed.errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'id' } });",
    '    expect(under.loggedErrors).toEqual([]);',
    '  });',
    '});',
  );

export function codegenEntry(n: ScaffoldNames): string {
  const folder = `subgraphs/${n.graph}/${n.service}`;
  return lines(
    `  ${folder}/src/__generated__/resolvers-types.ts:`,
    `    schema: ${folder}/schema.graphql`,
    '    plugins:',
    '      - add:',
    `          content: '/* Generated by \`npm run codegen\` from ${folder}/schema.graphql. Do not edit. */'`,
    '      - typescript',
    '      - typescript-resolvers',
    '    config:',
    '      federation: true',
    '      useIndexSignature: true',
    '      mapperTypeSuffix: Model',
    `      contextType: ../context.ts#${n.servicePascal}Context`,
    '      mappers:',
    `        ${n.entity}: ../entities/${n.entityKebab}.entity.ts#${n.entity}`,
  );
}

const documents = (n: ScaffoldNames) => [
  `const CREATE = 'mutation ($input: Create${n.entity}Input!) { create${n.entity}(input: $input) { id name } }';`,
  `const LIST = '{ ${n.entityPlural}(first: 100) { id name } }';`,
  `const FIND = 'query ($id: ID!) { ${n.entityCamel}(id: $id) { id name } }';`,
];

export const isolationCasesTs = (n: ScaffoldNames) =>
  lines(
    "import { expect } from 'vitest';",
    "import { defineIsolationCases } from '../../../../test/support/tenant-isolation.ts';",
    '',
    ...documents(n),
    '',
    `/** Tenant B (a stranger) never sees, nor changes, tenant A's ${n.entityPlural}: run by test/integration/tenant-isolation.test.ts. */`,
    'export const isolationCases = defineIsolationCases({',
    '  async setUp({ a, data }) {',
    `    return { id: (await data(a, CREATE, { input: { name: 'Tenant A only' } })).create${n.entity}.id as string };`,
    '  },',
    '  stateOfA: ({ a, data }) => data(a, LIST),',
    '  root: {',
    `    'Query.${n.entityPlural}': async ({ b, data }) => {`,
    `      expect((await data(b, LIST)).${n.entityPlural}).toEqual([]);`,
    '    },',
    `    'Query.${n.entityCamel}': async ({ b, data }, { id }) => {`,
    `      expect((await data(b, FIND, { id })).${n.entityCamel}).toBeNull();`,
    '    },',
    `    'Mutation.create${n.entity}': async ({ b, data }) => {`,
    `      expect((await data(b, CREATE, { input: { name: 'Tenant B' } })).create${n.entity}.name).toBe('Tenant B');`,
    '    },',
    '  },',
    `  entities: { ${n.entity}: { selection: '... on ${n.entity} { id name createdAt }', id: ({ id }) => id } },`,
    '});',
  );

export const throughTheGatewayTestTs = (n: ScaffoldNames) =>
  lines(
    "import { randomUUID } from 'node:crypto';",
    "import { afterAll, beforeAll, describe, expect, it } from 'vitest';",
    "import { Role } from '@nexusflow/kit';",
    "import { postGraphQL } from '@nexusflow/kit/testing';",
    "import { startGraphUnderTest, type GraphUnderTest } from '../../../../test/support/services.ts';",
    '',
    ...documents(n),
    '',
    `describe('the ${n.service} subgraph through the ${n.graph} gateway', () => {`,
    '  let graph: GraphUnderTest;',
    '',
    '  beforeAll(async () => {',
    `    graph = await startGraphUnderTest('${n.graph}', ['${n.service}'], { label: '${n.service}_gateway' });`,
    '  });',
    '',
    '  afterAll(async () => {',
    '    await graph?.close();',
    '  });',
    '',
    '  const send = async (roles: Role[], tenantId: string, query: string, variables?: Record<string, unknown>) =>',
    '    postGraphQL<Record<string, any>>(graph.gateway.graphqlUrl, query, {',
    "      token: await graph.tokenFor({ kind: 'user', userId: randomUUID(), tenantId, roles }),",
    '      variables,',
    '    });',
    '',
    `  it('creates, lists and finds ${n.entityPlural} of the caller\\'s tenant', async () => {`,
    '    const tenantId = randomUUID();',
    `    const created = (await send([Role.Member], tenantId, CREATE, { input: { name: 'Through the gateway' } })).data?.create${n.entity};`,
    "    expect(created).toEqual({ id: expect.any(String), name: 'Through the gateway' });",
    `    expect((await send([Role.Viewer], tenantId, LIST)).data).toEqual({ ${n.entityPlural}: [created] });`,
    `    expect((await send([Role.Viewer], tenantId, FIND, { id: created.id })).data).toEqual({ ${n.entityCamel}: created });`,
    '  });',
    '',
    "  it('refuses a VIEWER\\'s create with FORBIDDEN and a request without a token with UNAUTHENTICATED', async () => {",
    `    const refused = await send([Role.Viewer], randomUUID(), CREATE, { input: { name: 'Not allowed' } });`,
    "    expect(refused.errors?.map((error) => error.extensions?.code)).toEqual(['FORBIDDEN']);",
    `    const anonymous = await postGraphQL(graph.gateway.graphqlUrl, CREATE, { variables: { input: { name: 'Nobody' } } });`,
    "    expect(anonymous.errors?.map((error) => error.extensions?.code)).toEqual(['UNAUTHENTICATED']);",
    '  });',
    '});',
  );
