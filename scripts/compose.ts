import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { printSchema } from 'graphql';
import { apiSchemaOf, composeSupergraph, CompositionError, readSupergraphConfig } from '@nexusflow/schema-registry';

const configFile = fileURLToPath(new URL('../schema/supergraph.yaml', import.meta.url));
const supergraphFile = fileURLToPath(new URL('../schema/supergraph.graphql', import.meta.url));
const apiSchemaFile = fileURLToPath(new URL('../schema/api-schema.graphql', import.meta.url));

/** The supergraph the gateway serves, and the API schema clients see (what codegen types client operations with). */
export async function composeFiles(): Promise<{ supergraphSdl: string; apiSdl: string }> {
  const supergraphSdl = composeSupergraph(await readSupergraphConfig(configFile));
  return { supergraphSdl, apiSdl: `${printSchema(apiSchemaOf(supergraphSdl))}\n` };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    const { supergraphSdl, apiSdl } = await composeFiles();
    await writeFile(supergraphFile, supergraphSdl);
    await writeFile(apiSchemaFile, apiSdl);
    console.log('Composed schema/supergraph.graphql and schema/api-schema.graphql');
  } catch (error) {
    console.error(error instanceof CompositionError ? error.message : error);
    process.exit(1);
  }
}
