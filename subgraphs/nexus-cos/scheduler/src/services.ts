import type { Stoppable, SubgraphRuntime } from '@nexusflow/kit';
import type { SchedulerConfig } from './config.ts';
import type { SchedulerServices } from './context.ts';
import { TaskDelivery } from './domain/delivery.ts';
import { TaskEngine } from './domain/task-engine.ts';
import { TaskService } from './domain/task-service.ts';

export function createSchedulerServices(runtime: SubgraphRuntime, config: SchedulerConfig): SchedulerServices {
  const now = () => new Date(runtime.clock());
  const delivery = new TaskDelivery(config.targetOrigins, config.subgraph.internalSecret, runtime.clock);
  return {
    tasks: new TaskService(delivery, config.limits, now),
    engine: new TaskEngine({
      database: runtime.database,
      delivery,
      logger: runtime.logger,
      backoff: config.backoff,
      misfireGraceMs: config.misfireGraceMs,
      runRetentionMs: config.runRetentionMs,
      now,
    }),
  };
}

/** The in-process timers: every instance ticks; row locks decide which instance fires each occurrence and attempt. */
export async function startTicking(config: SchedulerConfig, services: SchedulerServices): Promise<Stoppable> {
  if (config.runTicker) services.engine.start(config.tickIntervalMs);
  return { close: () => services.engine.stop() };
}
