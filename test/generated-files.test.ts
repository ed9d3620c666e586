import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generate } from '@graphql-codegen/cli';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { composeFiles } from '../scripts/compose.ts';
import { repositoryRoot } from '../scripts/topology.ts';

/** Generated files are committed; these tests fail when someone forgets to regenerate them. */
describe('generated files', () => {
  it('has a committed supergraph and API schema equal to a fresh composition of the subgraph schemas (npm run compose)', async () => {
    const fresh = await composeFiles();
    const supergraph = await readFile(join(repositoryRoot, 'schema/supergraph.graphql'), 'utf8');
    expect(supergraph, 'schema/supergraph.graphql is stale: run `npm run compose`').toBe(fresh.supergraphSdl);
    const apiSchema = await readFile(join(repositoryRoot, 'schema/api-schema.graphql'), 'utf8');
    expect(apiSchema, 'schema/api-schema.graphql is stale: run `npm run compose`').toBe(fresh.apiSdl);
  });

  it('has committed resolver types equal to a fresh run of codegen.yml (npm run codegen)', async () => {
    const config = parse(await readFile(join(repositoryRoot, 'codegen.yml'), 'utf8'));
    const outputs = await generate({ ...config, cwd: repositoryRoot, silent: true }, false);
    expect(outputs.length).toBeGreaterThan(0);
    for (const output of outputs) {
      const committed = await readFile(join(repositoryRoot, output.filename), 'utf8').catch(() => '(missing)');
      expect(committed, `${output.filename} is stale: run \`npm run codegen\``).toBe(output.content);
    }
  });
});
