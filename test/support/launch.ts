/**
 * Launching `npm start`'s script on free ports, and reading what it printed: for the launcher tests and for benchmarks
 * that measure the graph as deployed, a process per service.
 */
import { randomBytes } from 'node:crypto';
import { graphNames, localPort, type GraphName } from '@nexusflow/topology';
import { gatewayPort, readTopology } from '../../scripts/topology.ts';
import { freePortOffset, launchScript, type LaunchedProcess } from './processes.ts';

/** Every secret a service of the topology requires, each refused in production until it is set. */
export const SERVICE_SECRETS = [...new Set(graphNames.flatMap((graph) => readTopology(graph).flatMap(({ secrets }) => secrets)))];
/** A random value for a service's secret, in the form its service checks (Stripe's webhook secrets are `whsec_…`). */
export const randomSecret = (name: string) => `${name === 'STRIPE_WEBHOOK_SECRET' ? 'whsec_' : ''}${randomBytes(32).toString('hex')}`;

/** Every port `graphs` take on this machine before --port-offset: each graph's catalogue moved by its local offset. */
export const machinePorts = (graphs: readonly GraphName[]) =>
  graphs.flatMap((graph) => [gatewayPort(graph), ...readTopology(graph).map(({ port }) => port)].map((port) => localPort(graph, port)));

/** The URL a launch prints for a row of its table, e.g. `nexusflow GraphQL` (the graph is named when two run). */
export const printedUrl = (line: string) =>
  line
    .trim()
    .split(/\s+/)
    .find((part) => part.startsWith('http'))!;

/** How a launch of both graphs names the processes of `graph` in its output. */
export const named = (graph: GraphName, name: string) => `${graph}/${name}`;

/** Launches NexusFlow alone unless a test names more graphs: each launch starts every service of its graphs. */
export async function launch(
  args: string[],
  env: NodeJS.ProcessEnv,
  graphs: readonly GraphName[] = ['nexusflow'],
): Promise<{ launcher: LaunchedProcess; gatewayUrl: string; portOffset: number }> {
  const portOffset = await freePortOffset(machinePorts(graphs));
  const graphArgs = graphs.flatMap((graph) => ['--graph', graph]);
  const launcher = launchScript('scripts/launch.ts', [...args, ...graphArgs, '--port-offset', String(portOffset)], {
    ...process.env,
    LOG_LEVEL: 'warn',
    ...env,
  });
  const heading = graphs.length > 1 ? 'nexusflow ' : '';
  const line = await launcher.waitForLine(new RegExp(`^\\s+${heading}GraphQL\\s+http`));
  return { launcher, gatewayUrl: printedUrl(line), portOffset };
}
