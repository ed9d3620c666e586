import { z } from 'zod';
import { parseConfig, runMain, type Environment, type RunningSubgraph } from '@nexusflow/kit';

/**
 * Hosts every subgraph in one process for the embedded topology (`npm start`). The embedded stand-ins
 * for RabbitMQ (the work queue and the event bus) live in memory, so they connect only the services of
 * one process: hosted together, a failed run in workflows still reaches notifications as an event,
 * exactly as through RabbitMQ. Each subgraph keeps its own port, configuration and PGlite database.
 */
const hostEnvSchema = z.object({
  /** JSON: `[{ "graph": "nexusflow", "name": "auth", "env": { "PORT": "3001", … } }, …]`, written by the launcher. */
  EMBEDDED_SUBGRAPHS: z
    .string()
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'is not JSON' });
        return z.NEVER;
      }
    })
    .pipe(
      z
        .array(
          z.object({
            graph: z.string().regex(/^[a-z][a-z0-9-]*$/),
            name: z.string().regex(/^[a-z][a-z0-9-]*$/),
            env: z.record(z.string(), z.string()),
          }),
        )
        .min(1),
    ),
});

/** What the host needs of a subgraph module's `subgraph` (see defineSubgraph). */
interface HostedSubgraph {
  start(env: Environment): Promise<RunningSubgraph<unknown>>;
}

await runMain(async () => {
  const { EMBEDDED_SUBGRAPHS: subgraphs } = parseConfig(hostEnvSchema);
  const running: RunningSubgraph<unknown>[] = [];
  const closeAll = async () => {
    for (const subgraph of running.reverse()) await subgraph.close();
  };
  try {
    for (const { graph, name, env } of subgraphs) {
      const { subgraph } = (await import(`../subgraphs/${graph}/${name}/src/subgraph.ts`)) as { subgraph: HostedSubgraph };
      // Each subgraph sees the host's environment with its own settings on top, as if it had a process of its own.
      running.push(await subgraph.start({ ...process.env, ...env }));
    }
  } catch (error) {
    await closeAll();
    throw error;
  }
  return { close: closeAll };
});
