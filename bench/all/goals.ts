/** The goals of issue 19 each benchmark figure is held against. */
export const GOALS = {
  deepThroughput: { text: 'Deep federated query: at least 4× stock’s throughput', atLeast: 4 },
  deepThroughputAim: { text: 'Deep federated query: aim 7× (where Hive Gateway’s Rust planner stands)', atLeast: 7 },
  deepP95: { text: 'Deep federated query: p95 at most a quarter of stock’s', atMost: 0.25 },
  deepMemory: { text: 'Deep federated query: peak memory no higher than stock’s', atMost: 1 },
  subscribers: { text: '30,000 subscribers on one gateway: p99 < 250 ms', subscribers: 30_000, p99BelowMs: 250 },
  perUser: { text: '10,000 subscribers of 1,000 distinct users: p99 < 250 ms', subscribers: 10_000, p99BelowMs: 250 },
  memory: { text: 'At most 16 KB per subscriber (at 30,000)', atMostKB: 16 },
  acrossRedis: { text: '50,000 subscribers across two gateways on Redis: every event delivered', subscribers: 50_000 },
  workflowThroughput: { text: 'At least 250 five-step executions a second', atLeast: 250 },
  stepOverhead: { text: 'Engine overhead per step, p50, under 5 ms', belowMs: 5 },
} as const;

/** Figures of other gateways, as their authors or the shared benchmarks publish them: not measured here. */
export const PUBLISHED = {
  source: 'Published, not measured here',
  hiveGateway: { name: 'Hive Gateway (Node)', figure: '≈3.2×' },
  cosmo: { name: 'Cosmo Router (Go)', figure: '≈7×' },
  cosmoWebSockets: { name: 'Cosmo Router', figure: '≈150–200 MB' },
  hiveRouter: { name: 'Hive Router', figure: '199 of 199' },
  apolloRouter: { name: 'Apollo Router', figure: '194 of 199' },
} as const;
