import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { composeSupergraph, readSupergraphConfig } from '../gateway/src/composition.ts';

const configFile = fileURLToPath(new URL('../schema/supergraph.yaml', import.meta.url));
const outputFile = fileURLToPath(new URL('../schema/supergraph.graphql', import.meta.url));

const subgraphs = await readSupergraphConfig(configFile);
try {
  await writeFile(outputFile, composeSupergraph(subgraphs));
  console.log(`Composed ${subgraphs.map((s) => s.name).join(', ')} into schema/supergraph.graphql`);
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
}
