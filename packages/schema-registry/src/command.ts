import { existsSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Environment } from '@nexusflow/kit/core';
import { selectGraphs, topology, type GraphName } from '@nexusflow/topology';
import { diffApiSchemas } from './changes.ts';
import { checkSchema, type CheckOptions } from './check.ts';
import { apiSchemaOf, composeSupergraph, readSupergraphConfig } from './composition.ts';
import { usageSettingsOf } from './config.ts';
import { removePendingPublication } from './publication.ts';
import { formatChanges, formatCheckReport } from './report.ts';
import { SchemaRegistry } from './registry.ts';
import { analyticsUsageSource, type UsageCheckOptions } from './usage.ts';

export const SCHEMA_COMMAND_USAGE = `Usage: schema <command> [options]
  check                 check the working subgraphs against the published schema (exit 1 on failure)
  publish [-m text]     check, then record the working subgraphs as a new published version
  log                   list published versions
  diff <a> <b>          changes between two versions (numbers, or "working" for the working tree)
Options: --graph <name> (repeatable; every graph by default: schema/<graph>/ holds each one's files),
         --json (one document: the graph's answer, or an object keyed by graph for several), --config <supergraph.yaml>, --registry <dir>, --operations <dir> (repeatable),
         --acknowledgements <file>, --pending-publication <file>,
         --require-published (check: fail while the working supergraph is not the published one, unless
         the pending-publication file says why),
         --usage-days <n> (check: read field usage of the last n days from analytics; a breaking change no
         client used is safe, one used lists its clients), --usage-url <url> (the analytics subgraph; else
         SCHEMA_USAGE_URL, else its routing URL in the supergraph config; signed with INTERNAL_SECRET)`;

const COMMANDS = ['check', 'publish', 'log', 'diff'] as const;
type SchemaCommand = (typeof COMMANDS)[number];
const isSchemaCommand = (name: string | undefined): name is SchemaCommand => COMMANDS.some((command) => command === name);

/** Where a command runs: the repository it reads (relative paths resolve from `cwd`), its environment and its output. */
export interface SchemaCommandSurroundings {
  cwd: string;
  /** Read for `--usage-days` (SCHEMA_USAGE_URL, INTERNAL_SECRET). @default the process's environment */
  env?: Environment;
  /** One line (or block) of the command's answer. */
  out: (text: string) => void;
  /** One line (or block) of why it failed. */
  err: (text: string) => void;
}

/** Exit codes: 0 passed, 1 a check failed (or nothing was published), 2 the command itself was wrong. */
export type SchemaCommandExitCode = 0 | 1 | 2;

/**
 * `npm run schema:*` as a function of its arguments: the CLI is this with the process's own surroundings, and tests run it
 * in-process on a copy of the repository (a process per command spent seconds importing before composing anything).
 */
export async function runSchemaCommand(argv: string[], surroundings: SchemaCommandSurroundings): Promise<SchemaCommandExitCode> {
  const { cwd, env, out, err } = surroundings;
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        json: { type: 'boolean', default: false },
        message: { type: 'string', short: 'm' },
        graph: { type: 'string', multiple: true },
        config: { type: 'string' },
        registry: { type: 'string' },
        operations: { type: 'string', multiple: true },
        acknowledgements: { type: 'string' },
        'pending-publication': { type: 'string' },
        'require-published': { type: 'boolean', default: false },
        'usage-days': { type: 'string' },
        'usage-url': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
    const fromCwd = (path: string) => resolve(cwd, path);

    /** A graph's files under schema/<graph>/ and its clients' operations, unless an option names others. */
    const optionsFor = (graph: GraphName): CheckOptions => ({
      root: cwd,
      supergraphConfig: fromCwd(values.config ?? `schema/${graph}/supergraph.yaml`),
      registryDirectory: fromCwd(values.registry ?? `schema/${graph}/registry`),
      operationDirectories: (values.operations ?? topology[graph].clients).map(fromCwd),
      acknowledgementsFile: fromCwd(values.acknowledgements ?? `schema/${graph}/acknowledged-changes.yaml`),
      pendingPublicationFile: fromCwd(values['pending-publication'] ?? `schema/${graph}/pending-publication.yaml`),
      // The gateway calls a graph's subgraphs too (API keys), and so does this registry (usage, for `--usage-days`): their
      // documents are checked like a subgraph's.
      moreInternalOperations: [
        { caller: 'gateway', directory: fromCwd(`gateway/src/operations/${graph}`) },
        { caller: 'schema-registry', directory: fileURLToPath(new URL(`./operations/${graph}`, import.meta.url)) },
      ],
    });

    // A folder named by hand that is not there would be read as empty: nothing published, no operations to check.
    // `publish` starts a registry where there is none.
    for (const [flag, paths] of [
      ['--registry', values.registry && positionals[0] !== 'publish' ? [values.registry] : []],
      ['--operations', values.operations ?? []],
    ] as const)
      for (const path of paths) if (!existsSync(fromCwd(path))) throw new Error(`${flag} ${path}: no such folder`);

    const graphs = selectGraphs(values.graph);
    const fileOptions = [values.config, values.registry, values.operations, values.acknowledgements, values['pending-publication']];
    if (graphs.length > 1 && fileOptions.some((option) => option !== undefined)) {
      throw new Error(
        "--config, --registry, --operations, --acknowledgements and --pending-publication name one graph's files: add --graph <name>",
      );
    }

    /** Where usage is read for the graph's check: the URL given, else the analytics subgraph of its supergraph config. */
    const usageFor = async (graph: GraphName, options: CheckOptions): Promise<UsageCheckOptions | undefined> => {
      const settings = usageSettingsOf({ days: values['usage-days'], url: values['usage-url'] }, env);
      if (!settings) return undefined;
      const url = settings.url ?? (await readSupergraphConfig(options.supergraphConfig)).find(({ name }) => name === 'analytics')?.url;
      // As when analytics cannot be reached: the report says why, and every breaking change counts as used.
      if (!url)
        return {
          days: settings.days,
          source: () => Promise.reject(new Error(`${graph} has no analytics subgraph to read usage from: pass --usage-url <url>`)),
          describedAs: 'no analytics subgraph',
        };
      return { days: settings.days, source: analyticsUsageSource({ url, internalSecret: settings.internalSecret }), describedAs: url };
    };

    /** With --json, what each graph's command answered: printed at the end as one document. */
    const jsonByGraph = new Map<GraphName, unknown>();

    const run = async (command: SchemaCommand, graph: GraphName): Promise<SchemaCommandExitCode> => {
      const options = optionsFor(graph);
      const registry = new SchemaRegistry(options.registryDirectory);
      const print = (json: unknown, text: string) => {
        if (values.json) jsonByGraph.set(graph, json);
        else out(text);
      };
      const supergraphOf = async (reference: string): Promise<string> => {
        if (reference === 'working') return composeSupergraph(await readSupergraphConfig(options.supergraphConfig));
        const version = Number(reference);
        if (!Number.isInteger(version) || version < 1) throw new Error(`"${reference}" is neither a version number nor "working"`);
        return (await registry.get(version)).supergraphSdl;
      };

      switch (command) {
        case 'check': {
          const usage = await usageFor(graph, options);
          const report = await checkSchema({ ...options, requirePublished: values['require-published'], ...(usage ? { usage } : {}) });
          const { proposal: _proposal, ...publicReport } = report;
          print(publicReport, formatCheckReport(report));
          return report.ok ? 0 : 1;
        }
        case 'publish': {
          const report = await checkSchema(options);
          if (!report.ok || !report.proposal) {
            err(formatCheckReport(report));
            err('\nNothing published: the check must pass first.');
            return 1;
          }
          // As Rover and Hive skip a publication that changes nothing: a version per run would bury the real ones.
          if (report.publication?.published) {
            const noteRemoved = await removePendingPublication(options.pendingPublicationFile!);
            print(
              { version: report.baseVersion, unchanged: true, pendingPublicationRemoved: noteRemoved },
              [
                `Nothing to publish: the working supergraph is published version ${report.baseVersion}`,
                ...(noteRemoved ? [`Removed ${relative(cwd, options.pendingPublicationFile!)}: nothing is pending`] : []),
              ].join('\n'),
            );
            return 0;
          }
          const published = await registry.publish({
            ...(values.message ? { message: values.message } : {}),
            subgraphs: report.proposal.subgraphs,
            supergraphSdl: report.proposal.supergraphSdl,
            changes: report.changes.map(({ subgraphs: _s, affectedOperations: _a, acknowledged: _k, ...change }) => change),
          });
          const notePath = relative(cwd, options.pendingPublicationFile!);
          const noteRemoved = await removePendingPublication(options.pendingPublicationFile!);
          print(
            {
              version: published.version,
              publishedAt: published.publishedAt,
              changes: published.changes.length,
              pendingPublicationRemoved: noteRemoved,
            },
            [
              `Published version ${published.version} with ${published.changes.length} change(s) to ${registry.publishedSupergraphPath}`,
              ...(noteRemoved ? [`Removed ${notePath}: the publication it announced is done`] : []),
            ].join('\n'),
          );
          return 0;
        }
        case 'log': {
          const versions = await Promise.all((await registry.versions()).map((version) => registry.get(version)));
          const rows = versions.reverse().map((v) => {
            const count = (severity: string) => v.changes.filter((c) => c.severity === severity).length;
            return {
              version: v.version,
              publishedAt: v.publishedAt,
              message: v.message ?? '',
              subgraphs: v.subgraphs.map((s) => s.name),
              breaking: count('breaking'),
              dangerous: count('dangerous'),
              safe: count('safe'),
            };
          });
          print(
            rows,
            rows.length === 0
              ? 'Nothing published yet.'
              : rows
                  .map(
                    (r) =>
                      `#${r.version}  ${r.publishedAt}  ${r.safe} safe, ${r.dangerous} dangerous, ${r.breaking} breaking  [${r.subgraphs.join(', ')}]  ${r.message}`,
                  )
                  .join('\n'),
          );
          return 0;
        }
        case 'diff': {
          const [from, to] = positionals.slice(1);
          if (!from || !to) throw new Error('diff needs two versions, e.g. `schema:diff 1 working`');
          const changes = await diffApiSchemas(apiSchemaOf(await supergraphOf(from)), apiSchemaOf(await supergraphOf(to)));
          print(
            changes,
            [`Changes from ${from} to ${to}: ${changes.length === 0 ? 'none' : changes.length}`, ...formatChanges(changes)].join('\n'),
          );
          return 0;
        }
      }
    };

    const command = positionals[0];
    if (!isSchemaCommand(command)) {
      out(SCHEMA_COMMAND_USAGE);
      return values.help ? 0 : 2;
    }
    let exitCode: SchemaCommandExitCode = 0;
    for (const graph of graphs) {
      if (graphs.length > 1 && !values.json) out(`\n== ${graph} ==`);
      exitCode = Math.max(exitCode, await run(command, graph)) as SchemaCommandExitCode;
    }
    // One JSON document whatever the number of graphs: a graph's answer, or, for several, an object keyed by graph.
    if (values.json && jsonByGraph.size > 0)
      out(JSON.stringify(graphs.length === 1 ? jsonByGraph.get(graphs[0]!) : Object.fromEntries(jsonByGraph), null, 2));
    return exitCode;
  } catch (error) {
    err(error instanceof Error ? error.message : String(error));
    return 2;
  }
}
