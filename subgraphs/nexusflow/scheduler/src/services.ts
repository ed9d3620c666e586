import type { Stoppable, SubgraphRuntime } from '@nexusflow/kit';
import type { SchedulerConfig } from './config.ts';
import type { SchedulerServices } from './context.ts';
import { ScheduleService } from './domain/schedule-service.ts';
import { ScheduleTicker } from './domain/ticker.ts';
import { WorkflowsClient } from './domain/workflows-client.ts';

export function createSchedulerServices(runtime: SubgraphRuntime, config: SchedulerConfig): SchedulerServices {
  const workflows = new WorkflowsClient(config.workflowsUrl, config.subgraph.internalSecret);
  const now = () => new Date(runtime.clock());
  return {
    schedules: new ScheduleService(workflows, now),
    ticker: new ScheduleTicker({
      database: runtime.database,
      workflows,
      logger: runtime.logger,
      misfireGraceMs: config.misfireGraceMs,
      now,
    }),
  };
}

/** The in-process timer: every instance ticks; the database decides which instance fires each tick. */
export async function startTicking(config: SchedulerConfig, services: SchedulerServices): Promise<Stoppable> {
  if (config.runTicker) services.ticker.start(config.tickIntervalMs);
  return { close: () => services.ticker.stop() };
}
