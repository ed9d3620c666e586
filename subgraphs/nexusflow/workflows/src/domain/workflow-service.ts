import { isUuid, requireRole, requireUuid, WRITER_ROLES, type EntityManager, type Identity, type OutboxRelay } from '@nexusflow/kit';
import { Workflow, WorkflowStatus } from '../entities/workflow.entity.ts';
import { WorkflowVersion } from '../entities/workflow-version.entity.ts';
import type { StepRegistry } from '../steps/index.ts';
import type { WebhookSecrets } from '../triggers/webhooks.ts';
import { parseDefinition, type DefinitionProblem } from './definition.ts';
import { recordWorkflowEvent, WorkflowEvent } from './events.ts';
import { afterCursor, PAGE_ORDER, pageSize, toConnection, type Connection } from './pagination.ts';

export type WorkflowResult =
  | Workflow
  | { __typename: 'InvalidWorkflow'; message: string; problems: DefinitionProblem[] }
  | { __typename: 'WorkflowNotFound'; message: string; id: string };

export interface WorkflowFilter {
  status?: WorkflowStatus | null;
  ownerId?: string | null;
  search?: string | null;
}

export const workflowNotFound = (id: string) => ({ __typename: 'WorkflowNotFound', message: `No workflow ${id}`, id }) as const;

/** Deleted workflows disappear from the API; other tenants' never appear, as the unit of work is scoped to the caller's. */
const NOT_DELETED = { deletedAt: null };

export class WorkflowService {
  constructor(
    private readonly steps: StepRegistry,
    private readonly relay: OutboxRelay,
    private readonly webhooks: WebhookSecrets,
  ) {}

  async find(em: EntityManager, id: string): Promise<Workflow | null> {
    if (!isUuid(id)) return null;
    return em.findOne(Workflow, { id, ...NOT_DELETED });
  }

  /** @param tenantId only this tenant's workflows, e.g. for a tenant's own `workflows` field; none if it is not the caller's */
  async list(
    em: EntityManager,
    args: { first?: number | null; after?: string | null; filter?: WorkflowFilter | null },
    tenantId?: string,
  ): Promise<Connection<Workflow>> {
    const size = pageSize(args.first);
    const { status, search } = args.filter ?? {};
    const ownerId = requireUuid(args.filter?.ownerId, 'ownerId');
    const rows = await em.find(
      Workflow,
      {
        ...NOT_DELETED,
        ...(tenantId ? { tenantId } : {}),
        ...(status ? { status } : {}),
        ...(ownerId ? { ownerId } : {}),
        ...(search ? { name: { $ilike: `%${search.replace(/[\\%_]/g, (c) => `\\${c}`)}%` } } : {}),
        ...afterCursor(args.after),
      },
      { orderBy: PAGE_ORDER, limit: size + 1 },
    );
    return toConnection(rows, size);
  }

  async create(em: EntityManager, identity: Identity, input: unknown): Promise<WorkflowResult> {
    const user = requireRole(identity, WRITER_ROLES);
    const definition = parseDefinition(input, this.steps);
    if (!definition.ok)
      return { __typename: 'InvalidWorkflow', message: 'The workflow definition is invalid', problems: definition.problems };
    const workflow = em.create(Workflow, {
      tenantId: user.tenantId,
      ownerId: user.userId,
      name: definition.name,
      description: definition.description,
      status: WorkflowStatus.Active,
      version: 1,
      steps: definition.steps,
      triggers: definition.triggers,
      deletedAt: null,
    });
    this.recordVersion(em, workflow, user.userId);
    await this.webhooks.sync(em, workflow);
    recordWorkflowEvent(em, WorkflowEvent.Created, workflow);
    await em.flush();
    this.relay.notify();
    return workflow;
  }

  /** A new version; executions already running keep the version they started with. */
  async update(em: EntityManager, identity: Identity, id: string, input: unknown): Promise<WorkflowResult> {
    const user = requireRole(identity, WRITER_ROLES);
    const workflow = await this.find(em, id);
    if (!workflow) return workflowNotFound(id);
    const definition = parseDefinition(input, this.steps);
    if (!definition.ok)
      return { __typename: 'InvalidWorkflow', message: 'The workflow definition is invalid', problems: definition.problems };
    Object.assign(workflow, {
      name: definition.name,
      description: definition.description,
      steps: definition.steps,
      triggers: definition.triggers,
    });
    workflow.version += 1;
    this.recordVersion(em, workflow, user.userId);
    await this.webhooks.sync(em, workflow);
    recordWorkflowEvent(em, WorkflowEvent.Updated, workflow);
    await em.flush();
    this.relay.notify();
    return workflow;
  }

  async setStatus(em: EntityManager, identity: Identity, id: string, status: WorkflowStatus): Promise<WorkflowResult> {
    requireRole(identity, WRITER_ROLES);
    const workflow = await this.find(em, id);
    if (!workflow) return workflowNotFound(id);
    if (workflow.status !== status) {
      workflow.status = status;
      recordWorkflowEvent(em, WorkflowEvent.Updated, workflow);
      await em.flush();
      this.relay.notify();
    }
    return workflow;
  }

  /** Deleted workflows disappear from the API; their executions stay as history. */
  async delete(em: EntityManager, identity: Identity, id: string) {
    requireRole(identity, WRITER_ROLES);
    const workflow = await this.find(em, id);
    if (!workflow) return workflowNotFound(id);
    workflow.deletedAt = new Date();
    recordWorkflowEvent(em, WorkflowEvent.Deleted, workflow);
    await em.flush();
    this.relay.notify();
    return { __typename: 'DeletedWorkflow', id } as const;
  }

  private recordVersion(em: EntityManager, workflow: Workflow, userId: string): void {
    em.create(WorkflowVersion, {
      workflowId: workflow.id,
      version: workflow.version,
      name: workflow.name,
      steps: workflow.steps,
      triggers: workflow.triggers,
      createdBy: userId,
    });
  }
}
