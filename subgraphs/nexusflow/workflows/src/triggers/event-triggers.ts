import { raw } from '@mikro-orm/postgresql';
import { systemFork, topicMatches, type Database, type DomainEvent, type EventBus, type Logger } from '@nexusflow/kit';
import { Execution } from '../entities/execution.entity.ts';
import { Workflow, WorkflowStatus } from '../entities/workflow.entity.ts';
import type { TriggerDefinition } from '../domain/definition.ts';
import type { ExecutionService } from '../domain/execution-service.ts';
import { compiledFilter, ENGINE_EVENT_SOURCE } from './trigger-rules.ts';

export interface EventTriggerOptions {
  database: Database;
  eventBus: EventBus;
  executions: ExecutionService;
  logger: Logger;
  /** The durable queue of this consumer; every instance of the service shares it, so each event is handled by one. */
  queue: string;
  /** Events handled at once. @default 8 */
  concurrency?: number;
}

/** The run a trigger starts for an event is keyed by the event's id: unique per workflow in the database. */
export const eventRunKey = (event: Pick<DomainEvent, 'id'>) => `event:${event.id}`;

/** What a run started by an event gets as its input: the event as it travelled. */
const runInput = ({ id, type, occurredAt, tenantId, payload }: DomainEvent) => ({ id, type, occurredAt, tenantId, payload });

/**
 * EVENT triggers: one durable consumer of every event on the bus starts a run of each active workflow of the event's
 * tenant whose trigger's pattern matches the event's type and whose filter holds for it, with the event as input. The
 * bus delivers at least once; the run's idempotency key (`event:<event id>`) makes it once per event and workflow.
 *
 * The engine's own events (`workflow.…`) are dropped unseen: no trigger may listen to them (see trigger-rules.ts), as a
 * run started by a run's event would start another for ever.
 */
export class EventTriggers {
  constructor(private readonly options: EventTriggerOptions) {}

  async start(): Promise<{ stop(): Promise<void> }> {
    return this.options.eventBus.subscribe(
      { queue: this.options.queue, bindings: ['#'], concurrency: this.options.concurrency ?? 8 },
      async (event) => {
        try {
          await this.handle(event);
        } catch (error) {
          this.options.logger.error(
            { err: error, eventId: event.id, type: event.type },
            'could not start the runs an event triggers; it will be redelivered',
          );
          throw error;
        }
      },
    );
  }

  /** Starts the runs `event` triggers that have not started yet; resolves with the workflows it started runs of. */
  async handle(event: DomainEvent): Promise<string[]> {
    if (!event.tenantId || topicMatches(`${ENGINE_EVENT_SOURCE}.#`, event.type)) return [];
    const em = systemFork(this.options.database);
    const candidates = await em.find(Workflow, {
      tenantId: event.tenantId,
      status: WorkflowStatus.Active,
      deletedAt: null,
      // Only workflows with an EVENT trigger: not every active workflow of the tenant, read in full, for every event.
      [raw((alias) => `${alias}."triggers" @> '[{"type":"EVENT"}]'::jsonb`)]: true,
    });
    const started: string[] = [];
    for (const workflow of candidates) {
      if (!(await this.triggers(workflow, event))) continue;
      const runs = systemFork(this.options.database);
      const idempotencyKey = eventRunKey(event);
      if (await runs.findOne(Execution, { workflowId: workflow.id, idempotencyKey }, { fields: ['id'] })) continue;
      const run = await this.options.executions.startTriggered(runs, workflow, { input: runInput(event), idempotencyKey });
      if (run.started) started.push(workflow.id);
    }
    return started;
  }

  /** Whether one of the workflow's EVENT triggers matches the event; a filter that fails holds for nothing. */
  private async triggers(workflow: Workflow, event: DomainEvent): Promise<boolean> {
    for (const trigger of workflow.triggers) {
      if (trigger.type !== 'EVENT' || !trigger.eventType || !topicMatches(trigger.eventType, event.type)) continue;
      if (await this.filterHolds(workflow, trigger, event)) return true;
    }
    return false;
  }

  private async filterHolds(workflow: Workflow, trigger: TriggerDefinition, event: DomainEvent): Promise<boolean> {
    if (!trigger.filter) return true;
    const filter = compiledFilter(trigger.filter);
    if (!filter) return false;
    try {
      return await filter.test(runInput(event));
    } catch (error) {
      this.options.logger.warn(
        { err: error, workflowId: workflow.id, eventId: event.id },
        'an event trigger filter failed; no run started',
      );
      return false;
    }
  }
}
