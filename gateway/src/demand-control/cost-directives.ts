import { Kind, valueFromASTUntyped, type ConstDirectiveNode, type DocumentNode } from 'graphql';

/** The names `@cost` and `@listSize` are applied under in one schema. */
export interface CostDirectiveNames {
  cost: string;
  listSize: string;
}

const COST_SPEC_IDENTITY = 'https://specs.apollo.dev/cost';
/** Subgraph schemas get the directives through the federation spec instead of the cost spec. */
const FEDERATION_SPEC_IDENTITY = 'https://specs.apollo.dev/federation';

interface LinkedFeature {
  identity: string;
  /** The feature's own name, from its URL: `cost` for `https://specs.apollo.dev/cost/v0.1`. */
  name: string;
  /** The prefix its non-imported elements get: `as`, or the name. */
  namespace: string;
  /** `@element` to the name it was imported as. */
  imports: Map<string, string>;
}

function linkedFeatureOf(directive: ConstDirectiveNode): LinkedFeature | undefined {
  const argument = (name: string) => directive.arguments?.find((candidate) => candidate.name.value === name)?.value;
  const urlNode = argument('url');
  if (urlNode?.kind !== Kind.STRING) return undefined;
  const segments = urlNode.value.replace(/\/+$/, '').split('/');
  const version = segments.pop();
  const name = segments.at(-1);
  if (!version || !/^v\d+\.\d+$/.test(version) || !name) return undefined;
  const asNode = argument('as');
  const namespace = asNode?.kind === Kind.STRING ? asNode.value : name;
  const imports = new Map<string, string>();
  const importNode = argument('import');
  const entries: unknown = importNode ? valueFromASTUntyped(importNode) : [];
  for (const entry of Array.isArray(entries) ? (entries as unknown[]) : [entries]) {
    if (typeof entry === 'string') imports.set(entry, entry);
    else if (entry && typeof entry === 'object') {
      const { name, as } = entry as { name?: unknown; as?: unknown };
      if (typeof name === 'string') imports.set(name, typeof as === 'string' ? as : name);
    }
  }
  return { identity: segments.join('/'), name, namespace, imports };
}

/**
 * How the link spec names an element of a linked feature: by its import name when imported; the
 * feature's root directive (the one named like the feature, as `@cost` is) by the bare namespace; any
 * other element as `@namespace__element`. Composition relies on the root-directive rule: the supergraph
 * links the cost spec importing only `@listSize` and still applies `@cost`.
 */
function nameInSchema(feature: LinkedFeature, element: string): string {
  const imported = feature.imports.get(`@${element}`);
  if (imported) return imported.replace(/^@/, '');
  return element === feature.name ? feature.namespace : `${feature.namespace}__${element}`;
}

/**
 * The names of `@cost` and `@listSize` in a schema: through its `@link` to the cost spec (what a composed
 * supergraph carries), else its `@link` to the federation spec (a subgraph schema), else their own names
 * when the schema links nothing at all (a plain GraphQL schema written to the IBM cost spec). Undefined
 * when the schema links specs but not these directives: then nothing in it is a cost directive.
 */
export function costDirectiveNames(document: DocumentNode): CostDirectiveNames | undefined {
  const features: LinkedFeature[] = [];
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.SCHEMA_DEFINITION && definition.kind !== Kind.SCHEMA_EXTENSION) continue;
    for (const directive of definition.directives ?? []) {
      const feature = linkedFeatureOf(directive);
      if (feature) features.push(feature);
    }
  }
  if (features.length === 0) return { cost: 'cost', listSize: 'listSize' };
  const feature =
    features.find(({ identity }) => identity === COST_SPEC_IDENTITY) ??
    features.find(({ identity }) => identity === FEDERATION_SPEC_IDENTITY);
  return feature && { cost: nameInSchema(feature, 'cost'), listSize: nameInSchema(feature, 'listSize') };
}
