/**
 * CPU profile of one gateway under the deep query's load, for finding where a request's time goes:
 *
 *   npx tsx bench/gateway/profile.ts [--gateway ours|stock] [--seconds 10] [--connections 50] [--out /tmp/gateway-profile]
 *
 * `--node-options` adds V8/Node flags to the gateway's (e.g. "--max-semi-space-size=64"). Starts the memoizing fixture subgraphs and the gateway with `--cpu-prof`, loads it, stops it, and prints the
 * directory holding the `.cpuprofile` (open it in Chrome DevTools, or read the summary it prints unless `--no-summary`).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { composeSupergraph } from '@nexusflow/schema-registry';
import { GATEWAY } from '../../scripts/topology.ts';
import { DEEP_QUERY, FIXTURE_SUBGRAPHS, FIXTURE_SUBGRAPH_NAMES, type FixtureSubgraphName } from './fixture/subgraphs.ts';
import { runLoad } from './load.ts';
import { benchGatewayEnvironment, firstAnswer, startProcess } from './processes.ts';

const { values: flags } = parseArgs({
  options: {
    gateway: { type: 'string', default: 'ours' },
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    out: { type: 'string', default: join(os.tmpdir(), 'gateway-profile') },
    'no-summary': { type: 'boolean', default: false },
    /** Only the CPU time per request, without the profiler's own cost. */
    'no-profile': { type: 'boolean', default: false },
    'node-options': { type: 'string', default: '' },
  },
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * CPU time a process has used (user and system, all threads), in ms: per request, a cost that holds on a machine
 * shared with other work, where throughput does not.
 */
async function cpuMs(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  // utime and stime are the 14th and 15th fields of the line, in clock ticks (100 per second on Linux).
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/** Self time by function, and total time by file, of a `.cpuprofile`. */
function summarise(profile: { nodes: ProfileNode[]; samples: number[] }, top = 40): string {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfCount = new Map<number, number>();
  for (const sample of profile.samples) selfCount.set(sample, (selfCount.get(sample) ?? 0) + 1);
  const total = profile.samples.length;
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  for (const [id, count] of selfCount) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const file = url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*\/main\//, '');
    const key = `${functionName || '(anonymous)'} ${file}:${lineNumber + 1}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + count);
    const fileKey = file.split('/').slice(0, 3).join('/') || functionName;
    byFile.set(fileKey, (byFile.get(fileKey) ?? 0) + count);
  }
  const rows = (map: Map<string, number>) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([key, count]) => `${((count / total) * 100).toFixed(1).padStart(5)}%  ${key}`)
      .join('\n');
  return `self time by function:\n${rows(byFunction)}\n\nself time by file:\n${rows(byFile)}`;
}

const fixture = await startProcess('bench/gateway/fixture/main.ts', ['--memoize'], { PATH: process.env.PATH });
const urls = fixture.ready as Record<FixtureSubgraphName, string>;
const scratch = await mkdtemp(join(os.tmpdir(), 'nexusflow-profile-'));
const supergraphFile = join(scratch, 'deep.graphql');
await writeFile(
  supergraphFile,
  composeSupergraph(FIXTURE_SUBGRAPH_NAMES.map((name) => ({ name, url: urls[name], sdl: FIXTURE_SUBGRAPHS[name].typeDefs }))),
);
await mkdir(flags.out, { recursive: true });
const port = await freePort();
const ours = flags.gateway === 'ours';
const url = `http://127.0.0.1:${port}/${ours ? 'graphql' : ''}`;
const secret = randomBytes(32).toString('hex');
const body = JSON.stringify({ query: DEEP_QUERY });
const gateway = await startProcess(
  ours ? 'gateway/src/main.ts' : 'bench/gateway/stock-gateway.ts',
  ours ? [] : ['--supergraph', supergraphFile, '--port', String(port)],
  benchGatewayEnvironment({ secret, supergraphFile, port }),
  {
    readyWhen: () => firstAnswer(url, body),
    nodeOptions: [
      ...(ours ? GATEWAY.nodeOptions : []),
      ...flags['node-options'].split(' ').filter(Boolean),
      ...(flags['no-profile'] ? [] : ['--cpu-prof', `--cpu-prof-dir=${flags.out}`]),
    ],
  },
);
try {
  const expectBody = await firstAnswer(url, body);
  await runLoad({ url, body, expectBody, connections: Number(flags.connections), seconds: 2 });
  const cpuBefore = await cpuMs(gateway.child.pid!);
  const result = await runLoad({ url, body, expectBody, connections: Number(flags.connections), seconds: Number(flags.seconds) });
  const cpuPerRequest = ((await cpuMs(gateway.child.pid!)) - cpuBefore) / result.requests;
  console.log(
    `${flags.gateway}: ${result.throughput.toFixed(0)} req/s, p95 ${result.p95.toFixed(1)} ms, ${cpuPerRequest.toFixed(2)} ms of CPU per request, ${result.failures} failures`,
  );
} finally {
  await gateway.stop();
  await fixture.stop();
}
const written = (await readdir(flags.out)).filter((name) => name.endsWith('.cpuprofile')).sort();
// The main thread's profile is the largest: the planner's worker threads sit idle once the plan is cached.
const sizes = await Promise.all(written.map(async (name) => (await stat(join(flags.out, name))).size));
const latest = written[sizes.indexOf(Math.max(...sizes))];
console.log(`profiles in ${flags.out}: ${written.join(', ')}`);
if (!flags['no-summary'] && latest) {
  console.log(summarise(JSON.parse(await readFile(join(flags.out, latest), 'utf8')) as { nodes: ProfileNode[]; samples: number[] }));
}
