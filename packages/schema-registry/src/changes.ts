import { ChangeType, CriticalityLevel, diff, DiffRule } from '@graphql-inspector/core';
import type { GraphQLSchema } from 'graphql';

export type ChangeSeverity = 'breaking' | 'dangerous' | 'safe';

export interface SchemaChange {
  /** graphql-inspector's change type, e.g. FIELD_REMOVED. */
  type: string;
  severity: ChangeSeverity;
  message: string;
  /** Schema coordinate of what changed, e.g. `User.email` or `Query.user.id`. */
  path?: string;
  /** Why the severity is what it is, for breaking and dangerous changes. */
  reason?: string;
}

const severityOf: Record<CriticalityLevel, ChangeSeverity> = {
  [CriticalityLevel.Breaking]: 'breaking',
  [CriticalityLevel.Dangerous]: 'dangerous',
  [CriticalityLevel.NonBreaking]: 'safe',
};

/**
 * Classifies every difference between two API schemas. Both are API schemas (federation's join and
 * link machinery already removed), so federation directives cannot be mistaken for client-facing
 * changes. Removing a field that was deprecated first counts as dangerous rather than breaking: the
 * operation check still fails if a known client uses it. Removing a type is always breaking.
 */
export async function diffApiSchemas(previous: GraphQLSchema, next: GraphQLSchema): Promise<SchemaChange[]> {
  const changes = await diff(previous, next, [DiffRule.suppressRemovalOfDeprecatedField]);
  return changes.map((change) => ({
    type: change.type as string,
    // graphql-inspector's rule downgrades every removed type, deprecated or not (a type cannot be deprecated at all).
    severity: change.type === ChangeType.TypeRemoved ? 'breaking' : severityOf[change.criticality.level],
    message: change.message,
    ...(change.path ? { path: change.path } : {}),
    ...(change.criticality.reason && change.criticality.level !== CriticalityLevel.NonBreaking
      ? { reason: change.criticality.reason }
      : {}),
  }));
}
