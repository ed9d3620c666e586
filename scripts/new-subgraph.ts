import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { parse } from 'yaml';
import { graphNames, isGraphName, servicesOf, topology, type GraphName } from '@nexusflow/topology';
import { ENTITY_NAME, scaffoldNames, SERVICE_NAME, type ScaffoldNames } from './scaffold/names.ts';
import * as templates from './scaffold/templates.ts';
import { repositoryRoot } from './topology.ts';

const USAGE = `Usage: npm run new:subgraph -- <graph>/<service> [--entity <Name>] [--port <n>]
  Creates subgraphs/<graph>/<service>/ with a schema of one tenant-owned entity, its migration, resolvers, loaders,
  tests (behaviour, _entities contract, migrations), and adds it to the topology, codegen.yml and the generated files.`;

function fail(message: string): never {
  console.error(`${message}\n\n${USAGE}`);
  process.exit(1);
}

/** The first port after the graph's highest that no service or gateway of any graph has. */
function nextFreePort(graph: GraphName): number {
  const taken = new Set(graphNames.flatMap((name) => [topology[name].gatewayPort, ...servicesOf(name).map(({ port }) => port)]));
  let port = Math.max(...servicesOf(graph).map((service) => service.port), 3000) + 1;
  while (taken.has(port)) port += 1;
  return port;
}

/** Appends the service to its graph's `services` in packages/topology/src/<graph>.ts, the last entry of that object. */
async function addToTopology(n: ScaffoldNames, port: number): Promise<void> {
  const file = join(repositoryRoot, 'packages/topology/src', `${n.graph}.ts`);
  const source = await readFile(file, 'utf8');
  const end = /\n {2}\},\n\} as const satisfies GraphTopology;/;
  if (!end.test(source)) throw new Error(`${file}: cannot find the end of its services object`);
  const key = n.service.includes('-') ? `'${n.service}'` : n.service;
  await writeFile(file, source.replace(end, `\n    ${key}: { port: ${port} },$&`));
}

async function addToCodegen(n: ScaffoldNames): Promise<void> {
  const file = join(repositoryRoot, 'codegen.yml');
  const source = await readFile(file, 'utf8');
  if (!source.endsWith('\n')) throw new Error('codegen.yml must end with a newline');
  await appendFile(file, templates.codegenEntry(n));
  const generates = (parse(await readFile(file, 'utf8')) as { generates: Record<string, unknown> }).generates;
  if (!(`subgraphs/${n.graph}/${n.service}/src/__generated__/resolvers-types.ts` in generates)) {
    await writeFile(file, source);
    throw new Error('codegen.yml: `generates` is not its last key, so the new entry would land outside it; move it last');
  }
}

async function pinnedVersions(): Promise<templates.PinnedVersions> {
  const kit = JSON.parse(await readFile(join(repositoryRoot, 'packages/kit/package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
  };
  const pick = (name: keyof templates.PinnedVersions) => kit.dependencies[name] ?? fail(`packages/kit/package.json pins no ${name}`);
  return {
    '@mikro-orm/core': pick('@mikro-orm/core'),
    '@mikro-orm/migrations': pick('@mikro-orm/migrations'),
    '@mikro-orm/postgresql': pick('@mikro-orm/postgresql'),
    dataloader: pick('dataloader'),
    graphql: pick('graphql'),
    zod: pick('zod'),
  };
}

function run(command: string, args: string[]): void {
  console.log(`$ ${[command, ...args].join(' ')}`);
  execFileSync(command, args, { cwd: repositoryRoot, stdio: 'inherit' });
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { entity: { type: 'string' }, port: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const [target] = positionals;
const [graph, service, ...rest] = (target ?? '').split('/');
if (!graph || !service || rest.length > 0) fail('Name the subgraph as <graph>/<service>, e.g. nexusflow/example');
if (!isGraphName(graph)) fail(`Unknown graph "${graph}"; graphs: ${graphNames.join(', ')} (packages/topology/src/index.ts lists them)`);
if (!SERVICE_NAME.test(service)) fail(`"${service}" is not a service name: lower-case letters and digits, words joined by "-"`);
if (values.entity !== undefined && !ENTITY_NAME.test(values.entity)) fail(`"${values.entity}" is not a type name, e.g. Invoice`);
if (servicesOf(graph).some(({ name }) => name === service)) fail(`The ${graph} graph already has a service "${service}"`);
const folder = join(repositoryRoot, 'subgraphs', graph, service);
if (existsSync(folder)) fail(`${folder} exists already`);
const port = values.port === undefined ? nextFreePort(graph) : Number(values.port);
if (!Number.isInteger(port) || port < 1024 || port > 65535) fail(`--port ${values.port}: give a port from 1024 to 65535`);

const n = scaffoldNames(graph, service, values.entity);
const versions = await pinnedVersions();
const files: Record<string, string> = {
  'package.json': templates.packageJson(n, versions),
  'schema.graphql': templates.schemaGraphql(n),
  'src/main.ts': templates.mainTs(),
  'src/subgraph.ts': templates.subgraphTs(n),
  'src/config.ts': templates.configTs(n),
  'src/context.ts': templates.contextTs(n),
  'src/loaders.ts': templates.loadersTs(n),
  [`src/entities/${n.entityKebab}.entity.ts`]: templates.entityTs(n),
  'src/migrations/0001-initial.ts': templates.initialMigrationTs(n),
  'src/migrations/index.ts': templates.migrationsIndexTs(n),
  [`src/domain/${n.entityKebab}-service.ts`]: templates.serviceTs(n),
  'src/resolvers/index.ts': templates.resolversIndexTs(n),
  'src/resolvers/Query.ts': templates.queryResolversTs(n),
  'src/resolvers/Mutation.ts': templates.mutationResolversTs(n),
  [`src/resolvers/${n.entity}.ts`]: templates.entityResolversTs(n),
  [`test/${n.service}.test.ts`]: templates.behaviourTestTs(n),
  'test/entities.contract.test.ts': templates.entityContractTestTs(n),
  'test/migrations.test.ts': templates.migrationsTestTs(n),
  'test/through-the-gateway.test.ts': templates.throughTheGatewayTestTs(n),
  'test/tenant-isolation.cases.ts': templates.isolationCasesTs(n),
};
for (const [path, content] of Object.entries(files)) {
  await mkdir(dirname(join(folder, path)), { recursive: true });
  await writeFile(join(folder, path), content);
}
await addToTopology(n, port);
await addToCodegen(n);
console.log(`Created subgraphs/${graph}/${service} (port ${port}, entity ${n.entity}); generating what derives from it:`);

// The workspace must be in package-lock.json, or `npm ci` refuses the lock file.
run('npm', ['install', '--no-audit', '--no-fund']);
run('npm', ['run', 'codegen', '--', '--graph', graph]);
run('npm', ['run', 'compose', '--', '--graph', graph]);
if (existsSync(join(repositoryRoot, 'scripts/deployment.ts'))) run('npm', ['run', 'deployment']);
run('npx', ['prettier', '--write', '--log-level', 'warn', `subgraphs/${graph}/${service}`, `packages/topology/src/${graph}.ts`]);

console.log(`
Next:
  npx vitest run subgraphs/${graph}/${service}     its tests: behaviour, through the gateway, _entities contract, migrations
  npx vitest run test/integration/tenant-isolation.test.ts test/operation-coverage.test.ts
  npm run schema:check -- --graph ${graph}         the registry's view of the change
  npm run schema:publish -- --graph ${graph} -m "Add the ${service} subgraph"   once it is reviewed
CONTRIBUTING.md ("Adding a subgraph") says what to change next.`);
