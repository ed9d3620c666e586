import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { generate } from '@graphql-codegen/cli';
import { parse } from 'yaml';
import { repositoryRoot, selectGraphs } from './topology.ts';

interface CodegenConfig {
  generates: Record<string, { schema: string; [option: string]: unknown }>;
  [option: string]: unknown;
}

/**
 * `npm run codegen [-- --graph <name>]`: codegen.yml's outputs, or only those of one graph's subgraphs and clients (an
 * output belongs to the graph whose subgraph or schema folder its schema comes from).
 */
const { values } = parseArgs({ options: { graph: { type: 'string', multiple: true } } });
try {
  const graphs = selectGraphs(values.graph);
  const config = parse(await readFile(join(repositoryRoot, 'codegen.yml'), 'utf8')) as CodegenConfig;
  const belongs = (schema: string) =>
    graphs.some((graph) => schema.startsWith(`subgraphs/${graph}/`) || schema.startsWith(`schema/${graph}/`));
  const generates = Object.fromEntries(Object.entries(config.generates).filter(([, output]) => belongs(output.schema)));
  await generate({ ...config, generates, cwd: repositoryRoot }, true);
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
}
