import { join, relative } from 'node:path';
import { Kind, parse, type DocumentNode, type GraphQLSchema } from 'graphql';
import { schemaCoordinatesOf } from '@nexusflow/kit/core';
import { AcknowledgementLedger, readAcknowledgements, type Acknowledgement } from './acknowledgements.ts';
import { diffApiSchemas, type SchemaChange } from './changes.ts';
import {
  apiSchemaOf,
  composeSupergraph,
  CompositionError,
  readSubgraphDirectories,
  readSupergraphConfig,
  type CompositionProblem,
  type SubgraphSource,
} from './composition.ts';
import {
  describeInternalOperation,
  loadInternalOperations,
  validateInternalOperations,
  type InternalOperationFailure,
  type InternalOperationSource,
} from './internal-operations.ts';
import { lintApiSchema, type LintFinding } from './lint.ts';
import { loadOperations, operationsAffectedBy, validateOperations, type KnownOperation, type OperationFailure } from './operations.ts';
import { readPendingPublication } from './publication.ts';
import { SchemaRegistry } from './registry.ts';
import { describeClient, usageOfChanges, type ChangeUsage, type UsageCheckOptions } from './usage.ts';

export interface CheckOptions {
  /** What reports show paths relative to (client operations, the pending-publication note). @default process.cwd() */
  root?: string;
  /** Rover-style supergraph config listing the proposed subgraphs. */
  supergraphConfig: string;
  registryDirectory: string;
  /** Folders of client operations (`*.graphql`) and persisted-query manifests. */
  operationDirectories: string[];
  /**
   * Where each subgraph keeps its calls to other subgraphs (`<target>/*.graphql`), validated against the target's own
   * proposed schema. @default `src/operations` in each subgraph's folder (the one its schema file is in)
   */
  internalOperations?: InternalOperationSource[];
  /** Callers beside the subgraphs, e.g. the gateway's own calls (`gateway/src/operations/<graph>`). */
  moreInternalOperations?: InternalOperationSource[];
  acknowledgementsFile?: string;
  /** A committed note that a publication is pending (see {@link PendingPublication}). */
  pendingPublicationFile?: string;
  /**
   * Fail when the working supergraph differs from the published one (what production serves) unless the pending
   * publication note says why, and when the note is there although nothing is pending. CI sets it, so that the main
   * branch never sits ahead of production unnoticed. @default false
   */
  requirePublished?: boolean;
  /**
   * Field usage over a window (`--usage-days`): a breaking change no client used in it is reported safe, one that a
   * client used lists the clients. Unset: every breaking change counts, as before.
   */
  usage?: UsageCheckOptions;
}

export type SubgraphStatus = 'added' | 'removed' | 'changed' | 'unchanged';

export interface CheckedChange extends SchemaChange {
  /** Subgraphs that define (or defined) what changed. */
  subgraphs: string[];
  /** Known client operations that use what changed. */
  affectedOperations: string[];
  /** The reviewed reason, when the change is acknowledged. */
  acknowledged?: string;
  /** For a breaking change, when the check read usage: whether any client used what it breaks, and which. */
  usage?: ChangeUsage;
}

export interface CheckReport {
  ok: boolean;
  /** Why the check fails; empty when it passes. */
  failures: string[];
  /** The published version compared against; null before anything was published. */
  baseVersion: number | null;
  subgraphs: { name: string; status: SubgraphStatus }[];
  composition: { ok: boolean; problems: CompositionProblem[] };
  changes: CheckedChange[];
  operations: { checked: number; failures: (OperationFailure & { acknowledged?: string })[] };
  /**
   * Calls between subgraphs. One that no longer validates cannot be acknowledged, since the caller ships from this same
   * repository; one a breaking change of its target's schema breaks can, as the change.
   */
  internalOperations: { checked: number; failures: InternalOperationFailure[] };
  lint: (LintFinding & { acknowledged?: string })[];
  /**
   * Whether the working supergraph is exactly the latest published one, and the reason of a pending publication note;
   * absent when composition failed.
   */
  /** `noteFile`: where a pending-publication note would be, relative to the working directory. */
  publication?: { published: boolean; noteFile: string; pendingReason?: string };
  /** What is wrong with the registry's own files (see {@link SchemaRegistry.problems}); the check fails on any. */
  registryProblems: string[];
  unusedAcknowledgements: Acknowledgement[];
  /**
   * The usage window read, when the check read one, and why reading it failed, if it did (breaking changes then stay
   * breaking).
   */
  usage?: { days: number; source: string; error?: string };
  /** Present when the check passes: what publishing would record. */
  proposal?: { subgraphs: SubgraphSource[]; supergraphSdl: string };
  durationMs: number;
}

function subgraphStatuses(proposed: SubgraphSource[], published: SubgraphSource[]): { name: string; status: SubgraphStatus }[] {
  const before = new Map(published.map((s) => [s.name, s.sdl]));
  const after = new Map(proposed.map((s) => [s.name, s.sdl]));
  return [...new Set([...before.keys(), ...after.keys()])].sort().map((name) => {
    const previous = before.get(name);
    const next = after.get(name);
    const status: SubgraphStatus =
      previous === undefined ? 'added' : next === undefined ? 'removed' : previous === next ? 'unchanged' : 'changed';
    return { name, status };
  });
}

/** Which subgraphs declare the type (and field) a change path points at. */
function subgraphsDefining(path: string | undefined, documents: Map<string, DocumentNode>): string[] {
  if (!path) return [];
  const [typeName, fieldName] = path.split('.');
  const owners: string[] = [];
  for (const [name, document] of documents) {
    const declares = document.definitions.some((definition) => {
      if (!('name' in definition) || definition.name?.value !== typeName) return false;
      if (!fieldName) return true;
      const members = 'fields' in definition ? definition.fields : 'values' in definition ? definition.values : undefined;
      return (members ?? []).some((member) => member.name.value === fieldName);
    });
    if (declares) owners.push(name);
  }
  return owners.sort();
}

function parsedSubgraphs(...sources: SubgraphSource[][]): Map<string, DocumentNode> {
  const documents = new Map<string, DocumentNode>();
  for (const list of sources) {
    for (const { name, sdl } of list) {
      try {
        const document = parse(sdl);
        const existing = documents.get(name);
        documents.set(name, existing ? { kind: Kind.DOCUMENT, definitions: [...existing.definitions, ...document.definitions] } : document);
      } catch {
        // An SDL that does not parse is reported by composition.
      }
    }
  }
  return documents;
}

async function defaultInternalOperationSources(supergraphConfig: string): Promise<InternalOperationSource[]> {
  const subgraphs = await readSubgraphDirectories(supergraphConfig);
  return subgraphs.map(({ name, directory }) => ({ caller: name, directory: join(directory, 'src', 'operations') }));
}

/**
 * The registry check a CI job runs on a proposed change: composition, breaking changes against the
 * published schema, known client operations, and the graph's conventions. Offline and in-process.
 */
export async function checkSchema(options: CheckOptions): Promise<CheckReport> {
  const started = performance.now();
  const root = options.root ?? process.cwd();
  const registry = new SchemaRegistry(options.registryDirectory);
  const registryProblems = await registry.problems();
  const [proposed, base, acknowledgements, operationLists, pendingPublication, internalOperations] = await Promise.all([
    readSupergraphConfig(options.supergraphConfig),
    // A latest version that does not read is one of the registry's problems: checked against nothing, the check fails.
    registry.latest().catch(() => undefined),
    readAcknowledgements(options.acknowledgementsFile),
    Promise.all(options.operationDirectories.map((directory) => loadOperations(directory, root))),
    readPendingPublication(options.pendingPublicationFile),
    (options.internalOperations
      ? Promise.resolve(options.internalOperations)
      : defaultInternalOperationSources(options.supergraphConfig)
    ).then((sources) => loadInternalOperations([...sources, ...(options.moreInternalOperations ?? [])], root)),
  ]);
  const operations = operationLists.flat();
  const ledger = new AcknowledgementLedger(acknowledgements);
  const failures: string[] = [];
  const report: CheckReport = {
    ok: false,
    failures,
    baseVersion: base?.version ?? null,
    subgraphs: subgraphStatuses(proposed, base?.subgraphs ?? []),
    composition: { ok: true, problems: [] },
    changes: [],
    operations: { checked: operations.length, failures: [] },
    internalOperations: { checked: internalOperations.length, failures: [] },
    lint: [],
    registryProblems,
    unusedAcknowledgements: [],
    durationMs: 0,
  };
  if (registryProblems.length > 0) failures.push(`the registry is not sound: ${registryProblems.join('; ')}`);

  let supergraphSdl: string;
  try {
    supergraphSdl = composeSupergraph(proposed);
  } catch (error) {
    if (!(error instanceof CompositionError)) throw error;
    report.composition = { ok: false, problems: error.problems };
    failures.push(`composition failed with ${error.problems.length} error(s)`);
    // Nothing was compared, so no acknowledgement can be told unneeded.
    report.durationMs = Math.round(performance.now() - started);
    return report;
  }

  const apiSchema = apiSchemaOf(supergraphSdl);
  const baseSchema: GraphQLSchema | undefined = base ? apiSchemaOf(base.supergraphSdl) : undefined;
  if (baseSchema) {
    const usage = new Map<KnownOperation, Set<string>>(
      operations.map((operation) => [operation, schemaCoordinatesOf(baseSchema, operation.document)]),
    );
    const documents = parsedSubgraphs(proposed, base!.subgraphs);
    for (const change of await diffApiSchemas(baseSchema, apiSchema)) {
      const checked: CheckedChange = {
        ...change,
        subgraphs: subgraphsDefining(change.path, documents),
        affectedOperations: change.path
          ? operationsAffectedBy({ type: change.type, path: change.path }, usage).map((operation) => operation.name)
          : [],
      };
      if (change.severity === 'breaking') {
        const acknowledged = ledger.change(change.type, change.path);
        if (acknowledged) checked.acknowledged = acknowledged;
      }
      report.changes.push(checked);
    }
  }

  if (options.usage) await judgeByUsage(report, options.usage);
  // A dangerous removal needs an acknowledgement only when usage shows it still used.
  for (const change of report.changes)
    if (change.severity === 'dangerous' && change.usage && !change.usage.safe) {
      const acknowledged = ledger.change(change.type, change.path);
      if (acknowledged) change.acknowledged = acknowledged;
    }

  report.operations.failures = validateOperations(apiSchema, operations).map((failure) => {
    const acknowledged = ledger.operation(failure.operation, failure.source);
    return acknowledged ? { ...failure, acknowledged } : failure;
  });

  report.internalOperations.failures = await validateInternalOperations(proposed, internalOperations, base?.subgraphs, (change) =>
    ledger.change(change.type, change.path),
  );

  report.lint = lintApiSchema(apiSchema).map((finding) => {
    const acknowledged = finding.severity === 'error' ? ledger.lint(finding.rule, finding.coordinate) : undefined;
    return acknowledged ? { ...finding, acknowledged } : finding;
  });

  const published = base?.supergraphSdl === supergraphSdl;
  report.publication = {
    published,
    noteFile: relative(root, options.pendingPublicationFile ?? 'pending-publication.yaml'),
    ...(pendingPublication ? { pendingReason: pendingPublication.reason } : {}),
  };

  // A dangerous removal (of something deprecated first) breaks the clients usage shows still using it.
  const breaking = report.changes.filter(
    (change) =>
      !change.acknowledged &&
      ((change.severity === 'breaking' && !change.usage?.safe) || (change.severity === 'dangerous' && change.usage && !change.usage.safe)),
  );
  const broken = report.operations.failures.filter((failure) => !failure.acknowledged);
  const lintErrors = report.lint.filter((finding) => finding.severity === 'error' && !finding.acknowledged);
  if (breaking.length > 0) {
    const clients = [...new Set(breaking.flatMap((change) => change.usage?.clients.map(describeClient) ?? []))];
    failures.push(`${breaking.length} breaking change(s) not acknowledged${clients.length > 0 ? ` (used by ${clients.join(', ')})` : ''}`);
  }
  if (broken.length > 0) failures.push(`${broken.length} client operation(s) no longer validate`);
  const brokenCalls = report.internalOperations.failures.filter((failure) => !failure.acknowledged);
  const invalidCalls = brokenCalls.filter((failure) => !failure.change);
  const callsBrokenByChanges = brokenCalls.filter((failure) => failure.change);
  const named = (calls: InternalOperationFailure[]) => calls.map((failure) => describeInternalOperation(failure)).join('; ');
  if (invalidCalls.length > 0) failures.push(`${invalidCalls.length} internal operation(s) no longer validate (${named(invalidCalls)})`);
  if (callsBrokenByChanges.length > 0)
    failures.push(
      `${callsBrokenByChanges.length} internal operation(s) broken by a change of their target not acknowledged (${named(callsBrokenByChanges)})`,
    );
  if (lintErrors.length > 0) failures.push(`${lintErrors.length} lint error(s)`);
  if (options.requirePublished && !published && !pendingPublication)
    failures.push('the working supergraph is not published, and no publication is pending');
  if (options.requirePublished && published && pendingPublication)
    failures.push('a publication is noted as pending, but the working supergraph is published');

  report.unusedAcknowledgements = ledger.unused();
  report.ok = failures.length === 0;
  if (report.ok) report.proposal = { subgraphs: proposed, supergraphSdl };
  report.durationMs = Math.round(performance.now() - started);
  return report;
}

/** Annotates the breaking changes with their usage; when usage cannot be read, says why and leaves them breaking. */
async function judgeByUsage(report: CheckReport, usage: UsageCheckOptions): Promise<void> {
  report.usage = { days: usage.days, source: usage.describedAs };
  try {
    const judged = await usageOfChanges(report.changes, usage);
    for (const change of report.changes) {
      const found = judged.get(change);
      if (found) change.usage = found;
    }
  } catch (error) {
    report.usage.error = error instanceof Error ? error.message : String(error);
  }
}
