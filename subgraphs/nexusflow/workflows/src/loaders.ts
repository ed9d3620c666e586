import DataLoader from 'dataloader';
import { groupByKeys, loaderById, tenantCondition, type EntityManager, type Identity } from '@nexusflow/kit';
import { Execution, type ExecutionStatus } from './entities/execution.entity.ts';
import { StepRun } from './entities/step-run.entity.ts';
import { Workflow } from './entities/workflow.entity.ts';
import { WorkflowWebhook } from './entities/workflow-webhook.entity.ts';
import { toConnection, type Connection } from './domain/pagination.ts';

/**
 * The first page of a list per parent, for many parents in one statement: a window function numbers
 * each parent's rows, so a list of 100 workflows with their latest executions is two queries, not 101.
 * Raw SQL is beyond the ORM's tenant filter, so it carries the unit of work's tenant clause itself.
 */
async function firstPages<T extends { createdAt: Date; id: string }>(
  em: EntityManager,
  entity: typeof Workflow | typeof Execution,
  table: string,
  parentColumn: string,
  parents: readonly string[],
  size: number,
  extraWhere: { sql: string; params: unknown[] },
  parentOf: (row: T) => string,
): Promise<Connection<T>[]> {
  const tenant = tenantCondition(em, 't."tenant_id"');
  const rows = await em.getConnection().execute<Record<string, unknown>[]>(
    `select * from (
       select t.*, row_number() over (partition by t."${parentColumn}" order by t."created_at" desc, t."id" desc) as "page_position"
       from "${table}" t where t."${parentColumn}" in (${parents.map(() => '?').join(', ')}) and ${tenant.sql} ${extraWhere.sql}
     ) ranked where "page_position" <= ? order by "created_at" desc, "id" desc`,
    [...parents, ...tenant.params, ...extraWhere.params, size + 1],
  );
  const entities = rows.map(({ page_position: _position, ...row }) => em.map(entity as never, row) as unknown as T);
  return groupByKeys(parents, entities, parentOf).map((group) => toConnection(group, size));
}

export interface PageKey {
  parentId: string;
  first: number;
  status?: ExecutionStatus | null;
}

const pageKey = (key: PageKey) => `${key.parentId}|${key.first}|${key.status ?? ''}`;

/** Batches page requests that share their page arguments, one statement per distinct argument set. */
function pageLoader<T>(load: (parents: string[], first: number, status: ExecutionStatus | null | undefined) => Promise<Connection<T>[]>) {
  return new DataLoader<PageKey, Connection<T>, string>(
    async (keys) => {
      const groups = new Map<string, PageKey[]>();
      for (const key of keys) {
        const group = `${key.first}|${key.status ?? ''}`;
        groups.set(group, [...(groups.get(group) ?? []), key]);
      }
      const results = new Map<string, Connection<T>>();
      for (const group of groups.values()) {
        const parents = [...new Set(group.map((key) => key.parentId))];
        const pages = await load(parents, group[0]!.first, group[0]!.status);
        parents.forEach((parent, index) => {
          for (const key of group.filter((candidate) => candidate.parentId === parent)) results.set(pageKey(key), pages[index]!);
        });
      }
      return keys.map((key) => results.get(pageKey(key))!);
    },
    { cacheKeyFn: pageKey },
  );
}

/** Every query runs in the request's unit of work, which sees the caller's tenant only (see the kit's tenant-scope.ts). */
export function createLoaders(em: EntityManager, _identity: Identity) {
  return {
    // Deleted workflows included: their executions still refer to them.
    workflowById: loaderById(em, Workflow),
    executionById: loaderById(em, Execution),
    webhookByWorkflowId: new DataLoader<string, WorkflowWebhook | null>(async (ids) => {
      const webhooks = await em.find(WorkflowWebhook, { workflowId: { $in: [...ids] } });
      return ids.map((id) => webhooks.find((webhook) => webhook.workflowId === id) ?? null);
    }),
    stepRunsByExecutionId: new DataLoader<string, StepRun[]>(async (ids) =>
      groupByKeys(
        ids,
        await em.find(StepRun, { executionId: { $in: [...ids] } }, { orderBy: { startedAt: 'asc', attempt: 'asc' } }),
        (r) => r.executionId,
      ),
    ),
    executionsByWorkflow: pageLoader<Execution>((workflowIds, first, status) =>
      firstPages<Execution>(
        em,
        Execution,
        'executions',
        'workflow_id',
        workflowIds,
        first,
        status ? { sql: 'and t."status" = ?', params: [status] } : { sql: '', params: [] },
        (execution) => execution.workflowId,
      ),
    ),
    workflowsByOwner: pageLoader<Workflow>((ownerIds, first) =>
      firstPages<Workflow>(
        em,
        Workflow,
        'workflows',
        'owner_id',
        ownerIds,
        first,
        { sql: 'and t."deleted_at" is null', params: [] },
        (w) => w.ownerId,
      ),
    ),
  };
}

export type WorkflowLoaders = ReturnType<typeof createLoaders>;
