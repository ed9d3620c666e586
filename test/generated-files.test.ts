import { readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { generate } from '@graphql-codegen/cli';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { graphNames } from '@nexusflow/topology';
import { composedFilePaths, composeFiles, type ComposedFiles } from '../scripts/compose.ts';
import { deploymentFilePaths, deploymentFiles, type DeploymentFiles } from '../scripts/deployment.ts';
import { repositoryRoot } from '../scripts/topology.ts';

/** Generated files are committed; these tests fail when someone forgets to regenerate them. */
describe('generated files', () => {
  it.each(graphNames)(
    'has a committed supergraph config, supergraph and API schema of %s equal to a fresh composition from the topology (npm run compose)',
    async (graph) => {
      const fresh = await composeFiles(graph);
      for (const [file, path] of Object.entries(composedFilePaths(graph)) as [keyof ComposedFiles, string][]) {
        const committed = await readFile(path, 'utf8').catch(() => '(missing)');
        expect(committed, `${relative(repositoryRoot, path)} is stale: run \`npm run compose\``).toBe(fresh[file]);
      }
    },
  );

  it('has a committed docker-compose.yml and docker/postgres/init-databases.sql equal to a fresh generation from the topology (npm run deployment)', async () => {
    const fresh = deploymentFiles();
    for (const [file, path] of Object.entries(deploymentFilePaths) as [keyof DeploymentFiles, string][]) {
      const committed = await readFile(path, 'utf8').catch(() => '(missing)');
      expect(committed, `${relative(repositoryRoot, path)} is stale: run \`npm run deployment\``).toBe(fresh[file]);
    }
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
