import { createWorkQueue, OutboxRelay, type Stoppable, type SubgraphRuntime } from '@nexusflow/kit';
import type { WorkflowsConfig } from './config.ts';
import type { WorkflowServices } from './context.ts';
import { ExecutionEngine, type StepMessage } from './domain/engine.ts';
import { liveTopics, WorkflowEvent } from './domain/events.ts';
import { ExecutionQuotaGuard } from './domain/execution-quota.ts';
import { ExecutionService } from './domain/execution-service.ts';
import { SharedExecutionReads } from './domain/shared-execution-reads.ts';
import { WorkflowService } from './domain/workflow-service.ts';
import { defaultStepRegistry } from './steps/index.ts';
import { EventTriggers } from './triggers/event-triggers.ts';
import { WebhookDeliveries, WebhookSecrets } from './triggers/webhooks.ts';

export const STEP_QUEUE = 'workflows.steps';
/** The durable queue of the EVENT triggers' consumer, bound to every event. */
export const EVENT_TRIGGER_QUEUE = 'workflows.event-triggers';

/**
 * The workflow engine's moving parts: the step queue, the outbox relay (which also feeds live
 * subscribers once an event is committed, as it hands it to the broker), the engine and the API's services.
 */
export function createWorkflowServices(runtime: SubgraphRuntime, config: WorkflowsConfig): WorkflowServices {
  const stepQueue = createWorkQueue<StepMessage>(runtime.config.amqpUrl, `${runtime.config.amqpNamespace}.${STEP_QUEUE}`, runtime.logger);
  const relay = new OutboxRelay(runtime.database, runtime.eventBus, runtime.logger, {
    pollIntervalMs: config.outboxPollIntervalMs,
    onRelayed: async (event) => {
      const { executionId, workflowId } = event.payload as { executionId?: string; workflowId?: string };
      const update = { ...event.payload, type: event.type, occurredAt: event.occurredAt };
      // A deleted workflow ends its watchers' streams: it starts no more runs.
      if (event.type === (WorkflowEvent.Deleted as string) && workflowId)
        return runtime.pubsub.publish(liveTopics.workflowExecutions(workflowId), update);
      if (!executionId || !workflowId) return;
      // Both, even if one fails: the pub/sub remembers each topic that lost an event, to tell its subscribers.
      const published = await Promise.allSettled([
        runtime.pubsub.publish(liveTopics.execution(executionId), update),
        runtime.pubsub.publish(liveTopics.workflowExecutions(workflowId), update),
      ]);
      const failure = published.find((result) => result.status === 'rejected');
      if (failure) throw failure.reason;
    },
  });
  const steps = defaultStepRegistry({
    allowPrivateNetworks: config.allowPrivateNetworkSteps,
    notify: { notificationsUrl: config.notificationsUrl, internalSecret: config.subgraph.internalSecret },
    ai: { aiUrl: config.aiUrl, internalSecret: config.subgraph.internalSecret },
    integration: { integrationsUrl: config.integrationsUrl, internalSecret: config.subgraph.internalSecret },
  });
  const engine = new ExecutionEngine({
    database: runtime.database,
    queue: stepQueue,
    steps,
    relay,
    logger: runtime.logger,
    leaseMarginMs: config.stepLeaseMarginMs,
    stepsPerMessage: config.stepsPerMessage,
    workerId: config.workerId,
    timerPollIntervalMs: config.timerPollIntervalMs,
    maxRetryAfterMs: config.stepMaxRetryAfterMs,
  });
  const webhooks = new WebhookSecrets(config.webhooks.encryptionKey, config.webhooks.baseUrl, {
    graceSeconds: config.webhooks.secretGraceSeconds,
    now: runtime.clock,
  });
  const workflows = new WorkflowService(steps, relay, webhooks);
  const quota = new ExecutionQuotaGuard({
    billingUrl: config.billingUrl,
    internalSecret: config.subgraph.internalSecret,
    logger: runtime.logger,
    now: runtime.clock,
  });
  const executions = new ExecutionService(workflows, engine, relay, quota);
  return {
    workflows,
    executions,
    webhooks,
    webhookDeliveries: new WebhookDeliveries({
      database: runtime.database,
      secrets: webhooks,
      executions,
      logger: runtime.logger,
      maxBodyBytes: config.webhooks.maxBodyBytes,
      toleranceSeconds: config.webhooks.toleranceSeconds,
      now: runtime.clock,
    }),
    eventTriggers: new EventTriggers({
      database: runtime.database,
      eventBus: runtime.eventBus,
      executions,
      logger: runtime.logger,
      queue: `${runtime.config.amqpNamespace}.${EVENT_TRIGGER_QUEUE}`,
    }),
    engine,
    steps,
    live: runtime.pubsub,
    liveReads: new SharedExecutionReads((em, id) => executions.findCurrent(em, id)),
    stepQueue,
    relay,
    quota,
  };
}

/**
 * The relay, the timers (after taking over what a previous run of this process left in flight), the sweeper, the
 * consumer of events for EVENT triggers and (unless disabled) step workers; stopping waits for steps in flight.
 */
export async function startBackgroundWork(
  runtime: SubgraphRuntime,
  { engine, relay, stepQueue, eventTriggers, quota }: WorkflowServices,
  config: WorkflowsConfig,
): Promise<Stoppable> {
  relay.start();
  await engine.start();
  const triggeringEvents = await eventTriggers.start();
  const planChanges = await quota.listen(runtime.eventBus, `${runtime.config.amqpNamespace}.workflows.plan-changes.${config.workerId}`);
  // A failure outside the step (the database is unreachable) comes back after a pause rather than
  // at once, which would spin; the step's own failures are handled by the engine's retry policy.
  const handle = async (message: StepMessage, delivery: { redelivered: boolean }) => {
    try {
      await engine.handle(message, delivery);
    } catch (error) {
      runtime.logger.warn({ err: error, ...message }, 'step message failed; trying again shortly');
      await stepQueue.enqueue(message, { delayMs: 1000 });
    }
  };
  const consumer = config.runWorker ? await stepQueue.consume(handle, { concurrency: config.workerConcurrency }) : undefined;
  const sweeper = setInterval(() => {
    engine.sweep(config.stallAfterMs).catch((error: unknown) => runtime.logger.warn({ err: error }, 'sweep failed'));
  }, config.sweepIntervalMs);
  sweeper.unref();
  return {
    async close() {
      clearInterval(sweeper);
      await triggeringEvents.stop();
      await planChanges.stop();
      await engine.stop();
      await consumer?.stop();
      await relay.stop();
      await stepQueue.close();
    },
  };
}
