import { describeAcknowledgement } from './acknowledgements.ts';
import type { SchemaChange } from './changes.ts';
import type { CheckReport } from './check.ts';
import { describeInternalOperation } from './internal-operations.ts';
import { describeClient, type ChangeUsage } from './usage.ts';

const marks = { breaking: '✗ BREAKING ', dangerous: '! DANGEROUS', safe: '✓ safe     ' } as const;
/** A breaking change no client used in the usage window. */
const UNUSED_MARK = '✓ UNUSED   ';

function formatUsage({ coordinate, days, safe, clients }: ChangeUsage): string[] {
  if (safe) return [`      usage: no client used ${coordinate} in the last ${days} day(s): safe to ship`];
  if (clients.length === 0)
    return [`      usage: no client used ${coordinate} in the last ${days} day(s), but the operations above use it: not safe to ship`];
  return [
    `      usage: used in the last ${days} day(s) by ${clients.length} client(s) through ${coordinate}:`,
    ...clients.map((client) => `        - ${describeClient(client)}: ${client.count} call(s), last ${client.lastSeenAt}`),
  ];
}

export function formatChanges(
  changes: (SchemaChange & { subgraphs?: string[]; affectedOperations?: string[]; acknowledged?: string; usage?: ChangeUsage })[],
): string[] {
  const lines: string[] = [];
  const order = { breaking: 0, dangerous: 1, safe: 2 };
  for (const change of [...changes].sort((a, b) => order[a.severity] - order[b.severity])) {
    const owners = change.subgraphs?.length ? ` [${change.subgraphs.join(', ')}]` : '';
    const mark = change.usage?.safe ? UNUSED_MARK : marks[change.severity];
    lines.push(`  ${mark} ${change.type} ${change.path ?? ''}${owners}`);
    lines.push(`      ${change.message}`);
    if (change.reason && change.severity !== 'safe') lines.push(`      why: ${change.reason}`);
    if (change.affectedOperations?.length) lines.push(`      used by: ${change.affectedOperations.join(', ')}`);
    if (change.usage) lines.push(...formatUsage(change.usage));
    if (change.severity === 'dangerous' && change.usage && !change.usage.safe && !change.acknowledged)
      lines.push('      fails: what it removes is still used; remove it once nobody uses it, or acknowledge it');
    if (change.acknowledged) lines.push(`      acknowledged: ${change.acknowledged}`);
  }
  return lines;
}

function formatPublication(
  { published, noteFile, pendingReason }: NonNullable<CheckReport['publication']>,
  baseVersion: number | null,
): string {
  const base = baseVersion === null ? 'nothing published yet' : `published version ${baseVersion}`;
  if (published) {
    return pendingReason === undefined
      ? `Publication: the working supergraph is ${base}, which production serves`
      : `Publication: the working supergraph is ${base}, yet a publication is noted as pending ("${pendingReason}"): remove the note`;
  }
  const ahead = `Publication: the working supergraph is ahead of ${base}, which production serves`;
  return pendingReason === undefined
    ? `${ahead}; publish it (npm run schema:publish -m "…"), or commit a pending-publication note (${noteFile}) saying why it waits`
    : `${ahead}; publication pending: ${pendingReason}`;
}

/** The human-readable form of a check, for CI logs. */
export function formatCheckReport(report: CheckReport): string {
  const lines: string[] = [];
  const changed = report.subgraphs.filter((s) => s.status !== 'unchanged');
  lines.push(
    `Schema check against ${report.baseVersion === null ? 'an empty registry (nothing published yet)' : `published version ${report.baseVersion}`}`,
    `Subgraphs: ${changed.length === 0 ? 'none changed' : changed.map((s) => `${s.name} ${s.status}`).join(', ')}`,
    '',
  );
  if (report.registryProblems.length > 0) {
    lines.push(`Registry: NOT SOUND (${report.registryProblems.length})`);
    for (const problem of report.registryProblems) lines.push(`  ✗ ${problem}`);
  }

  if (!report.composition.ok) {
    lines.push(`Composition: FAILED (${report.composition.problems.length})`);
    for (const problem of report.composition.problems) {
      lines.push(
        `  ✗ [${problem.subgraphs.join(', ') || 'supergraph'}] ${problem.coordinate ?? ''} ${problem.code}`.replace(/\s+/g, ' ').trimEnd(),
      );
      lines.push(`      ${problem.message}`);
    }
  } else {
    lines.push('Composition: ok');
    if (report.usage) {
      const { days, source, error } = report.usage;
      lines.push(
        error === undefined
          ? `Usage: the last ${days} day(s), from ${source}`
          : `Usage: could not be read from ${source} (${error}); breaking changes count as used`,
      );
    }
    lines.push(`Changes: ${report.changes.length === 0 ? 'none' : report.changes.length}`);
    lines.push(...formatChanges(report.changes));
    lines.push(`Operations: ${report.operations.checked} checked, ${report.operations.failures.length} no longer validate`);
    for (const failure of report.operations.failures) {
      lines.push(`  ✗ ${failure.operation} (${failure.source})${failure.acknowledged ? ` acknowledged: ${failure.acknowledged}` : ''}`);
      for (const error of failure.errors) lines.push(`      ${error}`);
    }
    const calls = report.internalOperations;
    const invalidCalls = calls.failures.filter((failure) => !failure.change).length;
    const brokenByChanges = calls.failures.length - invalidCalls;
    lines.push(
      `Internal operations: ${calls.checked} checked, ${invalidCalls} no longer validate${brokenByChanges > 0 ? `, ${brokenByChanges} broken by a change of their target` : ''}`,
    );
    for (const failure of calls.failures) {
      lines.push(
        `  ✗ ${describeInternalOperation(failure)} (${failure.source})${failure.acknowledged ? ` acknowledged: ${failure.acknowledged}` : ''}`,
      );
      for (const error of failure.errors) lines.push(`      ${error}`);
    }
    const errors = report.lint.filter((f) => f.severity === 'error');
    lines.push(`Lint: ${errors.length} error(s), ${report.lint.length - errors.length} warning(s)`);
    for (const finding of report.lint) {
      const mark = finding.severity === 'error' ? '✗' : '!';
      lines.push(
        `  ${mark} ${finding.rule} ${finding.coordinate}: ${finding.message}${finding.acknowledged ? ` (acknowledged: ${finding.acknowledged})` : ''}`,
      );
    }
    if (report.publication) lines.push(formatPublication(report.publication, report.baseVersion));
  }
  if (report.unusedAcknowledgements.length > 0) {
    lines.push('Acknowledgements no longer needed (remove them):');
    for (const entry of report.unusedAcknowledgements) lines.push(`  - ${describeAcknowledgement(entry)}`);
  }
  lines.push('', report.ok ? `PASSED (${report.durationMs} ms)` : `FAILED: ${report.failures.join('; ')} (${report.durationMs} ms)`);
  return lines.join('\n');
}
