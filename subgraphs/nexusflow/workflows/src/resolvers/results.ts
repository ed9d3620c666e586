import { Execution } from '../entities/execution.entity.ts';
import { Workflow } from '../entities/workflow.entity.ts';

/** Members of result unions are entities (success) or plain objects carrying their `__typename` (expected failures). */
export function resultType(value: unknown): string {
  if (value instanceof Workflow) return 'Workflow';
  if (value instanceof Execution) return 'Execution';
  return (value as { __typename: string }).__typename;
}
