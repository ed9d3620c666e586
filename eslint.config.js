// ESLint 9 flat config: `npm run lint`. TypeScript is linted with type information (the root
// tsconfig.json through the project service); every hand-written GraphQL document with
// @graphql-eslint: each subgraph's SDL against itself, client operations against the API schema.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import js from '@eslint/js';
import graphql from '@graphql-eslint/eslint-plugin';
import { defineConfig } from 'eslint/config';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/** Tests and test support, relative to a workspace (or the root): they may use devDependencies and the environment. */
const TEST_FILES = ['**/*.test.ts', 'test/**/*.ts', 'src/testing/**/*.ts', 'src/**/test-*.ts'];
const ROOT_TEST_FILES = [...TEST_FILES.map((pattern) => `${pattern.startsWith('**/') ? '' : '**/'}${pattern}`), 'vitest.config.ts'];

/** Workspace folders named by the root package.json (`dir/*` patterns expanded), so a new subgraph is linted with no edit here. */
function workspaceFolders() {
  const { workspaces } = JSON.parse(readFileSync('package.json', 'utf8'));
  return workspaces.flatMap((pattern) => expand(pattern.split('/')));
}

/** The folders a workspace pattern names (`*` is one folder level, as npm reads it) that hold a package.json. */
function expand(segments, parent = '.') {
  const [head, ...rest] = segments;
  if (head === undefined) return existsSync(join(parent, 'package.json')) ? [parent.replace(/^\.\//, '')] : [];
  const children =
    head === '*'
      ? readdirSync(parent, { withFileTypes: true })
          .filter((entry) => entry.isDirectory() && entry.name !== 'node_modules')
          .map((entry) => entry.name)
      : [head];
  return children.flatMap((child) => expand(rest, join(parent, child)));
}

/** Every file called `name` under `folder`, skipping node_modules. */
function filesNamed(folder, name) {
  return readdirSync(folder, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name === name && !entry.parentPath.includes('node_modules'))
    .map((entry) => join(entry.parentPath, entry.name));
}

const workspaces = workspaceFolders();

/**
 * An import must be declared by the package that makes it: each workspace against its own
 * package.json, root files (scripts, tests, benchmarks) against the root's. Tests may also use the
 * root's devDependencies, which are the shared test tooling (vitest).
 */
const declaredDependencies = [
  {
    files: ['**/*.ts'],
    rules: { 'import-x/no-extraneous-dependencies': ['error', { packageDir: ['.'], devDependencies: true }] },
  },
  {
    // The launcher and compose script run in production: what they import is a runtime dependency.
    files: ['scripts/**/*.ts'],
    rules: { 'import-x/no-extraneous-dependencies': ['error', { packageDir: ['.'], devDependencies: false }] },
  },
  {
    // Tools a developer runs on a checkout, never in production.
    files: ['scripts/codegen.ts', 'scripts/new-subgraph.ts'],
    rules: { 'import-x/no-extraneous-dependencies': ['error', { packageDir: ['.'], devDependencies: true }] },
  },
  ...workspaces.flatMap((folder) => [
    {
      files: [`${folder}/**/*.ts`],
      rules: { 'import-x/no-extraneous-dependencies': ['error', { packageDir: [folder], devDependencies: false }] },
    },
    {
      files: TEST_FILES.map((pattern) => `${folder}/${pattern}`),
      rules: { 'import-x/no-extraneous-dependencies': ['error', { packageDir: [folder, '.'], devDependencies: true }] },
    },
  ]),
];

/** `process.env` is read once, by each service's zod-parsed config.ts (packages/kit/src/platform/config.ts). */
const environmentReadOnlyInConfig = {
  files: ['**/*.ts'],
  rules: {
    'no-restricted-properties': [
      'error',
      { object: 'process', property: 'env', message: 'Read the environment in config.ts (parseConfig), nowhere else.' },
    ],
    'no-restricted-imports': [
      'error',
      {
        paths: ['node:process', 'process'].map((name) => ({
          name,
          importNames: ['env'],
          message: 'Read the environment in config.ts (parseConfig), nowhere else.',
        })),
      },
    ],
  },
};

/**
 * The places that legitimately touch the environment: the config modules themselves, the logger's
 * format (chosen before any config is parsed), the test environment loader (TEST_* variables), and
 * the entry scripts that start child processes and pass the environment on (launcher, embedded host, benchmarks).
 */
const environmentAllowed = {
  files: [
    '**/config.ts',
    'packages/kit/src/platform/logger.ts',
    'packages/kit/src/testing/environment.ts',
    'packages/kit/src/testing/ci.ts',
    'scripts/launch.ts',
    'scripts/embedded-host.ts',
    'bench/**/*.ts',
  ],
  rules: { 'no-restricted-properties': 'off', 'no-restricted-imports': 'off', 'no-restricted-syntax': 'off' },
};

/** Tests may hand the whole environment to a child process (`{ ...process.env }`) or copy it, but read no variable from it: TEST_* come from loadTestEnvironment. */
const environmentPassedOnByTests = {
  files: ROOT_TEST_FILES,
  rules: {
    'no-restricted-properties': 'off',
    'no-restricted-syntax': [
      'error',
      {
        selector: "MemberExpression[object.name='process'][property.name='env']:not(SpreadElement > .argument, VariableDeclarator > .init)",
        message:
          'Tests read TEST_* variables through loadTestEnvironment (@nexusflow/kit/testing); process.env may only be passed on whole.',
      },
    ],
  },
};

/**
 * The kit's boundaries depend one way: the platform on nothing else in the kit, messaging and storage on the platform,
 * the subgraph runtime on all three. The one edge between messaging and storage is the outbox, whose rows are written
 * in the caller's transaction (a `Database`, forked with `systemFork`). No boundary imports the package's entries
 * (index.ts, core.ts), which would bring every boundary with them.
 */
const kit = (path) => `packages/kit/src/${path}`;
const kitEntries = [kit('index.ts'), kit('core.ts')];
const kitBoundaries = {
  files: [kit('**/*.ts')],
  rules: {
    'import-x/no-restricted-paths': [
      'error',
      {
        basePath: import.meta.dirname,
        zones: [
          {
            target: kit('platform'),
            from: [kit('messaging'), kit('storage'), kit('runtime'), ...kitEntries],
            message: 'The platform depends on nothing else in the kit.',
          },
          {
            target: kit('messaging'),
            from: [kit('runtime'), ...kitEntries],
            message: 'Messaging depends on the platform (and the outbox on storage), never on the subgraph runtime.',
          },
          {
            target: kit('messaging/!(outbox|outbox.test).ts'),
            from: kit('storage'),
            message: 'Only the outbox, whose rows are written in the transaction of its caller, reaches into storage.',
          },
          {
            target: kit('messaging/{outbox,outbox.test}.ts'),
            from: kit('storage'),
            except: ['./database.ts', './tenant-scope.ts'],
            message: 'The outbox needs the database and its system fork from storage, nothing more.',
          },
          {
            target: kit('storage'),
            from: [kit('messaging'), kit('runtime'), ...kitEntries],
            message: 'Storage depends on the platform only.',
          },
        ],
      },
    ],
  },
};

const graphqlPlugins = { '@graphql-eslint': graphql };
const subgraphSchemaFiles = filesNamed('subgraphs', 'schema.graphql');

/**
 * What a subgraph sends another (`<caller>/src/operations/<target>/`), validated against the target's own SDL, beside
 * the caller's folder: the schema codegen types them with and schema:check validates them against.
 */
const internalOperationProjects = subgraphSchemaFiles.flatMap((schema) => {
  const caller = dirname(schema);
  const operations = join(caller, 'src', 'operations');
  const targets = existsSync(operations) ? readdirSync(operations, { withFileTypes: true }).filter((entry) => entry.isDirectory()) : [];
  return targets.map(({ name: target }) => ({
    name: `${caller} → ${target}`,
    schema: join(dirname(caller), target, 'schema.graphql'),
    documents: join(operations, target, '**', '*.graphql'),
  }));
});

/** The gateway's own calls to a graph's subgraphs (`gateway/src/operations/<graph>/<target>/`), against the target's SDL. */
const GATEWAY_OPERATIONS = 'gateway/src/operations';
const gatewayOperationProjects = (existsSync(GATEWAY_OPERATIONS) ? readdirSync(GATEWAY_OPERATIONS) : []).flatMap((graph) =>
  readdirSync(join(GATEWAY_OPERATIONS, graph)).map((target) => ({
    name: `gateway → ${graph}/${target}`,
    schema: join('subgraphs', graph, target, 'schema.graphql'),
    documents: join(GATEWAY_OPERATIONS, graph, target, '**', '*.graphql'),
  })),
);
internalOperationProjects.push(...gatewayOperationProjects);

/**
 * graphql-eslint loads one GraphQL config per process (the first linted file's) and picks a project by file, so every
 * GraphQL entry passes this same config. Subgraph schemas come first: a target's schema also appears in the projects
 * of its callers, and the first project that covers a file wins.
 */
const graphQLConfig = {
  projects: {
    ...Object.fromEntries(subgraphSchemaFiles.map((schema) => [schema, { schema }])),
    api: { schema: 'schema/nexusflow/api-schema.graphql', documents: 'clients/*/operations/**/*.graphql' },
    ...Object.fromEntries(internalOperationProjects.map(({ name, schema, documents }) => [name, { schema, documents }])),
  },
};

/**
 * Each subgraph's SDL, linted as a schema against itself. Turned off from the recommended set:
 * known-directives, since federation directives (@key, @link, @cost, @listSize) are imported by
 * `@link` and checked by composition in schema:check, which this rule cannot see; strict-id-in-types,
 * since payloads, problems and value types have no identity of their own (entities carry @key);
 * description-style, since types use block and fields inline descriptions on purpose.
 */
const subgraphSchemas = subgraphSchemaFiles.map((schema) => ({
  files: [schema],
  languageOptions: { parser: graphql.parser, parserOptions: { graphQLConfig } },
  plugins: graphqlPlugins,
  rules: {
    ...graphql.configs['flat/schema-recommended'].rules,
    '@graphql-eslint/known-directives': 'off',
    '@graphql-eslint/strict-id-in-types': 'off',
    '@graphql-eslint/description-style': 'off',
    // Every root field is described; the Query and Mutation types themselves say nothing a field does not.
    '@graphql-eslint/require-description': [
      'error',
      {
        types: true,
        DirectiveDefinition: true,
        rootField: true,
        ignoredSelectors: ['[type=ObjectTypeDefinition][name.value=/^(Query|Mutation|Subscription)$/]'],
      },
    ],
  },
}));

/** What clients send, validated against the composed API schema. */
const clientOperations = {
  files: ['clients/*/operations/**/*.graphql'],
  languageOptions: { parser: graphql.parser, parserOptions: { graphQLConfig } },
  plugins: graphqlPlugins,
  rules: graphql.configs['flat/operations-recommended'].rules,
};

const internalOperations = internalOperationProjects.map(({ documents }) => ({
  files: [documents],
  languageOptions: { parser: graphql.parser, parserOptions: { graphQLConfig } },
  plugins: graphqlPlugins,
  rules: graphql.configs['flat/operations-recommended'].rules,
}));

export default defineConfig(
  // Generated or composed output: checked by codegen and schema:check, not edited by hand.
  { ignores: ['**/node_modules/', '**/__generated__/', 'schema/', '.data/', '.scratch/', 'coverage/', '**/*.js', '**/*.cjs', '**/*.mjs'] },
  {
    files: ['**/*.ts'],
    extends: [js.configs.recommended, tseslint.configs.recommendedTypeChecked],
    plugins: { 'import-x': importX },
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    settings: { 'import-x/resolver-next': [importX.createNodeResolver()] },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      // An async function without await is how a function meets a Promise-returning contract (resolvers,
      // lifecycle hooks); a forgotten await is what no-floating-promises catches.
      '@typescript-eslint/require-await': 'off',
      // Passing on a reason of unknown origin (an AbortSignal's, a library's) is allowed; rejecting with a known non-Error is not.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingAny: true, allowThrowingUnknown: true }],
      // ws types a message as Buffer | ArrayBuffer | Buffer[]; with its default binaryType ('nodebuffer') no ArrayBuffer arrives.
      '@typescript-eslint/no-base-to-string': ['error', { ignoredTypeNames: ['Error', 'RegExp', 'URL', 'URLSearchParams', 'ArrayBuffer'] }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true }],
    },
  },
  {
    // Tests read responses parsed from JSON and assert on them with expect: typing each one adds casts, not safety.
    files: ROOT_TEST_FILES,
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    // Ports of @apollo/gateway's executeQueryPlan and dist/resultShaping.js, kept comparable with them line by line
    // (and pinned to them by gateway/test): response values are untyped JSON, query-plan selection kinds are
    // compared with graphql's Kind, and federation-internals types print through toString.
    files: ['gateway/src/execution/execute-plan.ts', 'gateway/src/execution/result-shaping.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/restrict-template-expressions': 'off',
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/no-unsafe-enum-comparison': 'off',
    },
  },
  ...declaredDependencies,
  environmentReadOnlyInConfig,
  environmentPassedOnByTests,
  environmentAllowed,
  kitBoundaries,
  ...subgraphSchemas,
  clientOperations,
  ...internalOperations,
);
